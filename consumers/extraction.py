"""Extracting one topic: read its snapshot, hash it, extract outside any transaction, replace.

Used by the consumer and by ``cardwright reextract``, so both go through the same fencing.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Engine

from cardwright.errors import DatabaseRefused, ExtractionFailed
from cardwright.extractors.base import Extractor
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.schema.source_hash import source_hash
from cardwright.storage.engine import translate_errors
from cardwright.storage.replace import (
    ExtractResult,
    Outcome,
    confirm_current,
    read_snapshot,
    replace_cards,
)


@dataclass(frozen=True, slots=True)
class TopicOutcome:
    outcome: Outcome
    snapshot: TopicSnapshot | None
    extract_s: float = 0.0
    replace_s: float = 0.0


class TopicExtraction:
    """Runs the extractor for one topic at a time, with a timeout, and stores the result."""

    def __init__(
        self, engine: Engine, extractor: Extractor, instance: str, timeout_s: float
    ) -> None:
        self.engine = engine
        self.extractor = extractor
        self.instance = instance
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract")

    def run(self, user_id: str, topic_id: str) -> TopicOutcome:
        """Bring the topic's cards up to its stored input. Raises ``ExtractionFailed`` or
        a database error of ``translate_errors`` (outage, contention, configuration); the
        previous cards stay in place on any."""
        with translate_errors():
            stored = read_snapshot(self.engine, user_id, topic_id)
        if stored is None:
            return TopicOutcome(Outcome.MISSING, None)
        snapshot = stored.snapshot
        digest = source_hash(self.extractor.extractor_id, snapshot.messages)
        if stored.cards_source_hash == digest:
            if stored.cards_state_version == snapshot.state_version:
                return TopicOutcome(Outcome.NOOP, snapshot)
            with translate_errors():
                confirmed = confirm_current(self.engine, snapshot, digest)
            if confirmed is not None:
                return TopicOutcome(confirmed, snapshot)
            # Another worker replaced the cards after our read: derive them after all.
        started = time.perf_counter()
        drafts = self._extract(snapshot)
        extract_s = time.perf_counter() - started
        started = time.perf_counter()
        try:
            with translate_errors():
                outcome = replace_cards(
                    self.engine,
                    ExtractResult(
                        snapshot=snapshot,
                        source_hash=digest,
                        extractor_id=self.extractor.extractor_id,
                        drafts=drafts,
                        extract_ms=int(extract_s * 1000),
                        consumer_instance=self.instance,
                    ),
                )
        except DatabaseRefused as exc:
            # Output the database refuses (a NUL in a title, say) is this topic's failure:
            # retried, then recorded, its previous cards kept (docs/design.md, "Failures").
            raise ExtractionFailed(user_id, topic_id, f"database refused the cards: {exc}") from exc
        return TopicOutcome(outcome, snapshot, extract_s, time.perf_counter() - started)

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        """The validated drafts for ``snapshot``, under the timeout; stores nothing (previews)."""
        return self._extract(snapshot)

    def _extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        future = self._executor.submit(self.extractor.extract, snapshot)
        try:
            drafts = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            # A thread cannot be killed: abandon it and give later topics a fresh one.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract")
            raise ExtractionFailed(
                snapshot.user_id, snapshot.topic_id, f"timed out after {self.timeout_s}s"
            ) from None
        except Exception as exc:  # any extractor bug is this topic's failure, not the worker's
            raise ExtractionFailed(
                snapshot.user_id, snapshot.topic_id, f"{type(exc).__name__}: {exc}"
            ) from exc
        return _validated(snapshot, drafts)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _validated(snapshot: TopicSnapshot, drafts: object) -> list[CardDraft]:
    """Drafts from any extractor pass the same checks before they can be stored."""
    if not isinstance(drafts, list):
        raise ExtractionFailed(snapshot.user_id, snapshot.topic_id, "extractor returned no list")
    known = {m.message_id for m in snapshot.messages}
    checked = []
    for draft in drafts:
        try:
            card = CardDraft.model_validate(draft)
        except ValidationError as exc:
            raise ExtractionFailed(
                snapshot.user_id, snapshot.topic_id, f"invalid card: {exc}"
            ) from exc
        if not set(card.message_ids) <= known:
            raise ExtractionFailed(
                snapshot.user_id, snapshot.topic_id, "card cites messages outside the topic"
            )
        checked.append(card)
    return checked
