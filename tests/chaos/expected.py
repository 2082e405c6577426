"""Expected cards for a topic's input state, from the extractor, computed once per state."""

from __future__ import annotations

from typing import Any

from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import TopicSnapshot, card_id
from tests.chaos.model import TopicModel
from tests.chaos.sampler import card_digest

CardRow = tuple[int, str, str, str, list[str]]  # position, kind, title, body, message_ids


class ExpectedCards:
    def __init__(self, extractor: Any | None = None) -> None:
        self.extractor = extractor or RulesExtractor()
        self._cards: dict[tuple[str, str, str], list[CardRow]] = {}
        self._digests: dict[tuple[str, str, str], str] = {}

    def cards(self, topic: TopicModel, source_hash: str) -> list[CardRow]:
        key = (*topic.key, source_hash)
        if key not in self._cards:
            snapshot = TopicSnapshot(
                topic.key[0], topic.key[1], topic.conversation, 0, topic.inputs[source_hash]
            )
            drafts = self.extractor.extract(snapshot)
            self._cards[key] = [
                (i, d.kind.value, d.title, d.body, list(d.message_ids))
                for i, d in enumerate(drafts)
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
