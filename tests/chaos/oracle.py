"""The oracle extractor as a cardwright plug-in: what the chaos workers run.

``CARDWRIGHT_EXTRACTOR=tests.chaos.oracle:OracleExtractor`` (a factory spec, see
``cardwright.extractors.base.load_extractor``). The rule itself is ``oracle_rule``, which the
checker imports without this module: the product types below are the plug-in's side only.
"""

from __future__ import annotations

import time

from cardwright.schema.cards import CardDraft, CardKind, TopicSnapshot
from tests.chaos.contract import Live
from tests.chaos.oracle_rule import EXTRACTOR_ID, oracle_cards, slow_seconds


class OracleExtractor:
    extractor_id = EXTRACTOR_ID

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        # The snapshot's order is used as given: ordering it is the pipeline's job, checked here.
        live = [Live(m.message_id, m.role, m.created_at, m.text) for m in snapshot.messages]
        pause = slow_seconds(live)
        if pause:
            time.sleep(pause)
        return [
            CardDraft(kind=CardKind(kind), title=title, body=body, message_ids=ids)
            for kind, title, body, ids in oracle_cards(live)
        ]
