"""Expected cards for a topic's input state: the oracle's rule applied to the model's input,
computed once per state, with the card ids of ``contract``. Nothing from the product."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from tests.chaos.contract import card_id
from tests.chaos.model import TopicModel
from tests.chaos.oracle_rule import oracle_cards

CardRow = tuple[int, str, str, str, list[str]]  # position, kind, title, body, message_ids


def card_digest(cards: Sequence[Sequence[Any]]) -> str:
    """A digest of card content: (position, kind, title, body, message_ids) per card, in order."""
    rows = [[int(c[0]), str(c[1]), str(c[2]), str(c[3]), list(c[4])] for c in cards]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


class ExpectedCards:
    def __init__(self) -> None:
        self._cards: dict[tuple[str, str, str], list[CardRow]] = {}
        self._digests: dict[tuple[str, str, str], str] = {}

    def cards(self, topic: TopicModel, source_hash: str) -> list[CardRow]:
        key = (*topic.key, source_hash)
        if key not in self._cards:
            # The model's inputs are already ordered by (created_at, message_id).
            self._cards[key] = [
                (i, kind, title, body, list(ids))
                for i, (kind, title, body, ids) in enumerate(
                    oracle_cards(topic.inputs[source_hash])
                )
            ]
        return self._cards[key]

    def digest(self, topic: TopicModel, source_hash: str) -> str:
        key = (*topic.key, source_hash)
        if key not in self._digests:
            self._digests[key] = card_digest(self.cards(topic, source_hash))
        return self._digests[key]

    @staticmethod
    def card_ids(user: str, topic: str, source_hash: str, count: int) -> list[str]:
        return [card_id(user, topic, source_hash, position) for position in range(count)]

    @property
    def states_extracted(self) -> int:
        return len(self._cards)
