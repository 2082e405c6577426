"""Recomputing one topic's cards from its stored messages, outside the consumer group.

``apply`` goes through ``TopicExtraction.run``: the same snapshot, source hash, extractor timeout
and replace transaction (topic lock, freshness fence, run ON CONFLICT DO NOTHING) as a consumer,
so a recompute racing a consumer can neither duplicate a run nor overwrite newer cards. A failed
extraction is recorded in ``extract_failures`` like a consumer's, and the old cards stay.

``preview`` stores nothing: it reads the snapshot, hashes it, and for a changed topic runs the
extractor and compares the result with the current cards (schema.card_diff). An extractor that
spends tokens (``MeteredExtractor``, a model) is not run: a preview would cost what it previews.
It estimates instead what re-deriving the topic would spend (docs/llm.md, "Cost").

Kafka is not involved at all: no offsets move, and no consumer notices anything but new cards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from cardwright.consumers.extraction import TopicExtraction
from cardwright.extractors.base import MeteredExtractor
from cardwright.schema.card_diff import CardDiff, CardFace, diff_cards
from cardwright.schema.cards import TopicKey
from cardwright.schema.errors import ExtractionFailed
from cardwright.schema.source_hash import source_hash
from cardwright.schema.usage import TokenUsage
from cardwright.storage.engine import translate_errors
from cardwright.storage.queries import cards_by_topic, runs_of_topic
from cardwright.storage.replace import read_snapshot, record_failure

# What happens (or would happen) to a topic. "unchanged": the cards already come from the input;
# "new"/"reused": cards are re-derived, under a new run or an earlier run with the same hash.
UNCHANGED, NEW, REUSED, STALE, MISSING, FAILED = (
    "unchanged",
    "new",
    "reused",
    "stale",
    "missing",
    "failed",
)


@dataclass(frozen=True, slots=True)
class TopicRecompute:
    user_id: str
    topic_id: str
    status: str
    diff: CardDiff | None = None  # previews of changed topics only
    error: str | None = None
    estimate: TokenUsage | None = None  # previews by a metered extractor: tokens it would spend

    def as_dict(self) -> dict[str, object]:
        document: dict[str, object] = {
            "user_id": self.user_id,
            "topic_id": self.topic_id,
            "status": self.status,
        }
        if self.diff is not None:
            document |= {
                "added": [c.as_dict() for c in self.diff.added],
                "removed": [c.as_dict() for c in self.diff.removed],
                "changed": [
                    {"before": b.as_dict(), "after": a.as_dict()} for b, a in self.diff.changed
                ],
            }
        if self.error is not None:
            document["error"] = self.error
        if self.estimate is not None:
            document["estimated_tokens"] = {
                "model": self.estimate.model,
                "prompt": self.estimate.prompt_tokens,
                "completion_at_most": self.estimate.completion_tokens,
            }
        return document


class Recompute:
    def __init__(self, engine: Engine, extraction: TopicExtraction) -> None:
        self.engine = engine
        self.extraction = extraction

    def apply(self, key: TopicKey) -> TopicRecompute:
        user_id, topic_id = key
        try:
            result = self.extraction.run(user_id, topic_id)
        except ExtractionFailed as exc:
            self._record_failure(key, exc)
            return TopicRecompute(user_id, topic_id, FAILED, error=exc.cause)
        outcome = result.outcome.value
        status = UNCHANGED if outcome == "noop" else outcome
        return TopicRecompute(user_id, topic_id, status)

    def preview(self, key: TopicKey) -> TopicRecompute:
        user_id, topic_id = key
        extractor_id = self.extraction.extractor.extractor_id
        with translate_errors():
            stored = read_snapshot(self.engine, user_id, topic_id)
        if stored is None:
            return TopicRecompute(user_id, topic_id, MISSING)
        digest = source_hash(extractor_id, stored.snapshot.messages)
        if stored.cards_source_hash == digest:
            return TopicRecompute(user_id, topic_id, UNCHANGED)
        extractor = self.extraction.extractor
        if isinstance(extractor, MeteredExtractor):
            with translate_errors():
                known = {run.source_hash for run in runs_of_topic(self.engine, user_id, topic_id)}
            status = REUSED if digest in known else NEW
            return TopicRecompute(
                user_id, topic_id, status, estimate=extractor.estimate(stored.snapshot)
            )
        try:
            drafts = self.extraction.extract(stored.snapshot)
        except ExtractionFailed as exc:
            return TopicRecompute(user_id, topic_id, FAILED, error=exc.cause)
        with translate_errors():
            current = cards_by_topic(self.engine, user_id, topic_id)
            known = {run.source_hash for run in runs_of_topic(self.engine, user_id, topic_id)}
        before = [
            CardFace(c.kind, c.title, c.body, tuple(c.message_ids))
            for c in (current.cards if current else [])
        ]
        after = [CardFace(d.kind.value, d.title, d.body, tuple(d.message_ids)) for d in drafts]
        status = REUSED if digest in known else NEW
        return TopicRecompute(user_id, topic_id, status, diff=diff_cards(before, after))

    def _record_failure(self, key: TopicKey, exc: ExtractionFailed) -> None:
        with translate_errors():
            stored = read_snapshot(self.engine, *key)
            if stored is not None:
                record_failure(
                    self.engine,
                    stored.snapshot,
                    self.extraction.extractor.extractor_id,
                    exc.cause,
                    1,
                    self.extraction.instance,
                )
