"""Extracting one topic: read its snapshot, hash it, extract outside any transaction, replace.

Used by the consumer and by ``cardwright reextract``, so both go through the same fencing.

Where the extractor runs depends on how it is given. By entry point spec (``"rules"``,
``"rules@2"``): in a warm child process that is killed when it overruns the timeout, so a
runaway extractor costs one topic's failure and nothing stays behind (extractors/isolation.py).
As an instance (tests, embedding): in a thread of this process, which on timeout can only be
abandoned, still running.

An extractor that spends tokens (``MeteredExtractor``) has them counted here: stored with the run
(``ExtractResult.usage``), summed over failed attempts until the failure is recorded
(``take_failed_usage``), reported to ``on_usage`` by outcome for the metrics, and charged to the
member's ``TokenBudget``, which is asked before each extraction that would call the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import Engine

from cardwright.consumers.budget import TokenBudget
from cardwright.extractors.base import Extractor, Metered, MeteredExtractor
from cardwright.extractors.isolation import IsolatedRunner
from cardwright.schema.cards import CardDraft, TopicKey, TopicSnapshot
from cardwright.schema.errors import DatabaseRefused, ExtractionFailed
from cardwright.schema.source_hash import source_hash
from cardwright.schema.usage import TokenUsage, added
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
    usage: TokenUsage | None = None


# Told the outcome ("new", "reused", "stale", "missing", "failed") and the tokens it spent.
UsageObserver = Callable[[str, TokenUsage], None]


class TopicExtraction:
    """Runs the extractor for one topic at a time, with a timeout, and stores the result.

    ``extractor`` is an entry point spec (run in a child process) or an instance (run in a
    thread); ``self.extractor`` is the instance either way, for its ``extractor_id``.
    """

    def __init__(
        self,
        engine: Engine,
        extractor: Extractor | str,
        instance: str,
        timeout_s: float,
        *,
        budget: TokenBudget | None = None,
        on_usage: UsageObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.instance = instance
        self.timeout_s = timeout_s
        self.budget = budget
        self._on_usage = on_usage
        self._clock = clock
        self._failed_usage: dict[TopicKey, TokenUsage] = {}
        self._usage_lock = threading.Lock()
        self._runner: _Runner
        if isinstance(extractor, str):
            isolated = IsolatedRunner(extractor)
            self.extractor: Extractor = isolated.extractor
            self._runner = isolated
        else:
            self.extractor = extractor
            self._runner = _ThreadRunner(extractor)

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
        if self.budget is not None:
            self.budget.admit(self._clock())  # OverBudget: the topic waits, nothing is spent
        started = time.perf_counter()
        try:
            drafts, usage = self._extract_metered(snapshot)
        except ExtractionFailed as exc:
            self._charge(snapshot, "failed", exc.usage)
            raise
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
                        usage=usage,
                    ),
                )
        except DatabaseRefused as exc:
            # Output the database refuses (a NUL in a title, say) is this topic's failure:
            # retried, then recorded, its previous cards kept (docs/design.md, "Failures").
            self._charge(snapshot, "failed", usage)
            cause = f"database refused the cards: {exc}"
            raise ExtractionFailed(user_id, topic_id, cause, usage=usage) from exc
        self._charge(snapshot, outcome.value, usage)
        return TopicOutcome(outcome, snapshot, extract_s, time.perf_counter() - started, usage)

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        """The validated drafts for ``snapshot``, under the timeout; stores nothing (previews)."""
        return self._extract_metered(snapshot)[0]

    def over_budget(self) -> bool:
        """Whether extractions that call a model must wait for the token budget now."""
        return self.budget is not None and self.budget.wait_s(self._clock()) > 0

    def take_failed_usage(self, key: TopicKey) -> TokenUsage | None:
        """The tokens the topic's failed attempts spent since its last success or recorded
        failure; taken when the failure is recorded (extract_failures)."""
        with self._usage_lock:
            return self._failed_usage.pop(key, None)

    def _extract_metered(
        self, snapshot: TopicSnapshot
    ) -> tuple[list[CardDraft], TokenUsage | None]:
        result = self._runner.run(snapshot, self.timeout_s)
        if not isinstance(result, Metered):
            return _validated(snapshot, result), None
        try:
            return _validated(snapshot, result.drafts), result.usage
        except ExtractionFailed as exc:  # the tokens were spent all the same
            raise ExtractionFailed(exc.user_id, exc.topic_id, exc.cause, result.usage) from exc

    def _charge(self, snapshot: TopicSnapshot, outcome: str, usage: TokenUsage | None) -> None:
        if usage is None:
            return
        key = (snapshot.user_id, snapshot.topic_id)
        with self._usage_lock:
            if outcome == "failed":
                self._failed_usage[key] = added(self._failed_usage.get(key), usage) or usage
            else:
                self._failed_usage.pop(key, None)
        if self.budget is not None:
            self.budget.spend(self._clock(), usage.total_tokens)
        if self._on_usage is not None:
            self._on_usage(outcome, usage)

    def close(self) -> None:
        """Stop the extractor's child process or thread pool; a worker calls it at shutdown."""
        self._runner.close()


class _Runner(Protocol):
    def run(self, snapshot: TopicSnapshot, timeout_s: float) -> object:
        """The extractor's unchecked result, or ``ExtractionFailed`` (raised, timed out)."""
        ...

    def close(self) -> None: ...


class _ThreadRunner:
    """An extractor instance run in a thread of this process, for the timeout's sake."""

    def __init__(self, extractor: Extractor) -> None:
        self._extractor = extractor
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract")

    def run(self, snapshot: TopicSnapshot, timeout_s: float) -> object:
        extractor = self._extractor
        extract: Callable[[TopicSnapshot], object] = (
            extractor.extract_metered
            if isinstance(extractor, MeteredExtractor)
            else extractor.extract
        )
        future = self._executor.submit(extract, snapshot)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            # A thread cannot be killed: abandon it and give later topics a fresh one.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract")
            raise ExtractionFailed(
                snapshot.user_id, snapshot.topic_id, f"timed out after {timeout_s}s"
            ) from None
        except ExtractionFailed:
            raise  # the extractor's own verdict, with the tokens it spent
        except Exception as exc:  # any extractor bug is this topic's failure, not the worker's
            raise ExtractionFailed(
                snapshot.user_id, snapshot.topic_id, f"{type(exc).__name__}: {exc}"
            ) from exc

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
