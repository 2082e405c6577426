"""The oracle extractor's rule, plain enough that the checker computes the cards itself.

Given a topic's live messages in the order the snapshot holds them:
  - one card per message whose text holds the marker ``#card``: kind by role (user:
    ``action_item``, assistant: ``decision``, system: ``question``), title
    ``"<message_id>: <the text's first 60 characters>"``, body naming the role, the UTC created_at,
    the text's UTF-8 size and the start of its sha256, the message's id;
  - then, when any message is live, one ``link`` card summing the topic up: its title counts the
    messages and its message ids are all of them, in order.
So the cards depend on every field of every live message and on the order (created_at, then
message_id in code point order): a pipeline that stores the wrong revision, the wrong created_at
or orders a snapshot by a database collation gets cards the checker does not expect.

A message whose text holds ``#slow`` makes extraction take ``SLOW_S`` longer (the output does
not change): scenarios use it to be sure a frozen worker is caught inside an extraction.

Pure and product-free: the plug-in wrapper is ``tests/chaos/oracle.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tests.chaos.contract import Live, utc_text

EXTRACTOR_ID = "oracle@1"
MARKER = "#card"
SLOW_MARKER = "#slow"
SLOW_S = 0.02
TITLE_CHARS = 60
KIND_BY_ROLE = {"user": "action_item", "assistant": "decision", "system": "question"}
SUMMARY_KIND = "link"

# (kind, title, body, message_ids): a card as the oracle makes it.
OracleCard = tuple[str, str, str, tuple[str, ...]]


def oracle_cards(messages: Sequence[Live]) -> list[OracleCard]:
    cards: list[OracleCard] = []
    for m in messages:
        if MARKER in m.text:
            size = len(m.text.encode("utf-8"))
            digest = hashlib.sha256(m.text.encode("utf-8")).hexdigest()[:16]
            cards.append(
                (
                    KIND_BY_ROLE[m.role],
                    f"{m.message_id}: {m.text[:TITLE_CHARS]}",
                    f"{m.role} at {utc_text(m.created_at)}, {size} bytes, sha256 {digest}",
                    (m.message_id,),
                )
            )
    if messages:
        ids = tuple(m.message_id for m in messages)
        cards.append(
            (SUMMARY_KIND, f"{len(ids)} live messages", f"first {ids[0]}, last {ids[-1]}", ids)
        )
    return cards


def slow_seconds(messages: Sequence[Live]) -> float:
    return SLOW_S * sum(1 for m in messages if SLOW_MARKER in m.text)
