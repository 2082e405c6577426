"""Extracting one topic: read its snapshot, hash it, extract outside any transaction, replace.

Used by the consumer and by ``cardwright reextract``, so both go through the same fencing. The
steps are separate so that the consumer keeps the database work on its poll thread and only the
extractor runs in its pool (consumers/pool.py): ``prepare`` (snapshot, source hash, no-op check),
the extraction (``pool``), then ``store`` (validate the drafts, replace in one transaction).
``run`` does all three in turn, waiting for the extraction. The consumer stores the extractions
that finished together with ``store_many``: each topic's drafts validated on its own, then all
of them replaced in one transaction (storage/group_replace.py; docs/design.md, "Inside a
member": finished topics are replaced in batches).

Where the extractor runs depends on how it is given. By entry point spec (``"rules"``,
``"rules@2"``): in a warm child process per slot that is killed when it overruns the timeout, so
a runaway extractor costs one topic's failure and nothing stays behind (extractors/isolation.py).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Engine

from cardwright.consumers.budget import TokenBudget
from cardwright.consumers.pool import Done, ExtractionPool, Job
from cardwright.extractors.base import Extractor, Metered
from cardwright.schema.cards import CardDraft, TopicKey, TopicSnapshot
from cardwright.schema.errors import (
    DatabaseContention,
    DatabaseMisconfigured,
    DatabaseRefused,
    ExtractionFailed,
    RetryableError,
)
from cardwright.schema.source_hash import source_hash
from cardwright.schema.usage import TokenUsage, added
from cardwright.storage.engine import translate_errors
from cardwright.storage.group_replace import read_snapshots, replace_many
from cardwright.storage.replace import (
    ExtractResult,
    Outcome,
    StoredTopic,
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


# What ``store_many`` came to for one topic: its outcome, or the error ``store`` would have
# raised for it (the topic's ExtractionFailed, or its transaction's contention, outage or
# configuration error).
TopicStored = TopicOutcome | ExtractionFailed | RetryableError | DatabaseMisconfigured

# At most this many topics are replaced in one transaction: it bounds the rows one transaction
# locks (and so what another member's batch may wait on) and what one contention or outage
# sends back to the core; more go in the next transaction.
STORE_BATCH = 64


# Told the outcome ("new", "reused", "stale", "missing", "failed") and the tokens it spent.
UsageObserver = Callable[[str, TokenUsage], None]


class TopicExtraction:
    """Brings topics' cards up to their stored input: the extractor in a pool, with a timeout.

    ``extractor`` is an entry point spec (run in child processes) or an instance (run in
    threads); ``self.extractor`` is the instance either way, for its ``extractor_id``.
    ``concurrency`` is the pool's slots (one for a CPU-bound extractor).
    """

    def __init__(
        self,
        engine: Engine,
        extractor: Extractor | str,
        instance: str,
        timeout_s: float,
        concurrency: int = 1,
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
        self.pool = ExtractionPool(extractor, concurrency, timeout_s)
        self.extractor: Extractor = self.pool.extractor

    def run(self, user_id: str, topic_id: str) -> TopicOutcome:
        """Bring the topic's cards up to its stored input. Raises ``ExtractionFailed`` or
        a database error of ``translate_errors`` (outage, contention, configuration); the
        previous cards stay in place on any."""
        prepared = self.prepare(user_id, topic_id)
        if isinstance(prepared, TopicOutcome):
            return prepared
        return self.store(self.pool.call(prepared))

    def prepare(self, user_id: str, topic_id: str) -> TopicOutcome | Job:
        """The topic's outcome when no extraction is needed (missing, no-op), else the ``Job``
        to extract. Raises a database error of ``translate_errors``."""
        with translate_errors():
            stored = read_snapshot(self.engine, user_id, topic_id)
        return self.prepare_read(stored)

    def read_many(self, keys: Sequence[TopicKey]) -> dict[TopicKey, StoredTopic | None]:
        """What ``prepare`` reads, for many topics in one snapshot and one query per table
        (``read_snapshots``); None for a topic without a row. Raises a database error."""
        with translate_errors():
            found = read_snapshots(self.engine, keys)
        return {key: found.get(key) for key in keys}

    def prepare_read(self, stored: StoredTopic | None) -> TopicOutcome | Job:
        """``prepare`` of a topic whose snapshot was read already (``read_many``)."""
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
        return Job(snapshot, digest)

    def store(self, done: Done) -> TopicOutcome:
        """Validate ``done``'s drafts and replace the topic's cards with them in one transaction.
        Raises ``ExtractionFailed`` (``ExtractionTimedOut`` included) or a database error."""
        snapshot = done.job.snapshot
        try:
            drafts, usage = self._metered_drafts(done)
        except ExtractionFailed as exc:
            self._charge(snapshot, "failed", exc.usage)
            raise
        started = time.perf_counter()
        try:
            with translate_errors():
                outcome = replace_cards(self.engine, self._result(done, drafts, usage))
        except DatabaseRefused as exc:
            raise self._refused(done, usage, exc) from exc
        self._charge(snapshot, outcome.value, usage)
        replace_s = time.perf_counter() - started
        return TopicOutcome(outcome, snapshot, done.extract_s, replace_s, usage)

    def store_many(self, dones: Sequence[Done]) -> list[TopicStored]:
        """``store`` for many extractions (of distinct topics), in order, each one's drafts
        validated on its own and the valid ones replaced together, ``STORE_BATCH`` at most in
        one transaction; what each came to is what ``store`` would return or raise for it.

        A refused topic drops out of its transaction alone (``replace_many``). An error of a
        whole transaction (contention, outage, configuration) is every one of its topics'; after
        an outage or a configuration error no further transaction is tried, and the topics left
        get the same error. A topic's ``replace_s`` is its transaction's time divided by the
        topics stored in it (its share; the transaction is not timed per topic).
        """
        stored: list[TopicStored | None] = [None] * len(dones)
        valid: list[tuple[int, ExtractResult]] = []
        for index, done in enumerate(dones):
            try:
                drafts, usage = self._metered_drafts(done)
            except ExtractionFailed as exc:
                self._charge(done.job.snapshot, "failed", exc.usage)
                stored[index] = exc
                continue
            valid.append((index, self._result(done, drafts, usage)))
        halted: RetryableError | DatabaseMisconfigured | None = None
        for start in range(0, len(valid), STORE_BATCH):
            batch = valid[start : start + STORE_BATCH]
            if halted is not None:
                for index, _ in batch:
                    stored[index] = halted
                continue
            started = time.perf_counter()
            try:
                with translate_errors():
                    outcomes = replace_many(self.engine, [result for _, result in batch])
            except (RetryableError, DatabaseMisconfigured) as exc:
                # Contention lost this transaction's race only: the next one may win its own.
                if not isinstance(exc, DatabaseContention):
                    halted = exc
                for index, _ in batch:
                    stored[index] = exc
                continue
            share = (time.perf_counter() - started) / len(batch)
            for (index, result), outcome in zip(batch, outcomes, strict=True):
                done = dones[index]
                if isinstance(outcome, DatabaseRefused):
                    stored[index] = self._refused(done, result.usage, outcome)
                    continue
                self._charge(result.snapshot, outcome.value, result.usage)
                stored[index] = TopicOutcome(
                    outcome, result.snapshot, done.extract_s, share, result.usage
                )
        assert all(item is not None for item in stored)
        return [item for item in stored if item is not None]

    def _result(
        self, done: Done, drafts: list[CardDraft], usage: TokenUsage | None
    ) -> ExtractResult:
        return ExtractResult(
            snapshot=done.job.snapshot,
            source_hash=done.job.source_hash,
            extractor_id=self.extractor.extractor_id,
            drafts=drafts,
            extract_ms=int(done.extract_s * 1000),
            consumer_instance=self.instance,
            usage=usage,
        )

    def _refused(
        self, done: Done, usage: TokenUsage | None, exc: DatabaseRefused
    ) -> ExtractionFailed:
        """Output the database refuses (a NUL in a title, say) is this topic's failure: retried,
        then recorded, its previous cards kept (docs/design.md, "Failures: four classes")."""
        snapshot = done.job.snapshot
        self._charge(snapshot, "failed", usage)
        cause = f"database refused the cards: {exc}"
        failed = ExtractionFailed(snapshot.user_id, snapshot.topic_id, cause, usage)
        failed.__cause__ = exc
        return failed

    def drafts(self, done: Done) -> list[CardDraft]:
        """``done``'s validated drafts; raises its failure, or ``ExtractionFailed`` for drafts
        that do not pass the checks every extractor's output passes."""
        return self._metered_drafts(done)[0]

    def _metered_drafts(self, done: Done) -> tuple[list[CardDraft], TokenUsage | None]:
        if done.failure is not None:
            raise done.failure
        snapshot, result = done.job.snapshot, done.result
        if not isinstance(result, Metered):
            return _validated(snapshot, result), None
        try:
            return _validated(snapshot, result.drafts), result.usage
        except ExtractionFailed as exc:  # the tokens were spent all the same
            raise ExtractionFailed(exc.user_id, exc.topic_id, exc.cause, result.usage) from exc

    def over_budget(self) -> bool:
        """Whether extractions that call a model must wait for the token budget now."""
        return self.budget is not None and self.budget.wait_s(self._clock()) > 0

    def take_failed_usage(self, key: TopicKey) -> TokenUsage | None:
        """The tokens the topic's failed attempts spent since its last success or recorded
        failure; taken when the failure is recorded (extract_failures)."""
        with self._usage_lock:
            return self._failed_usage.pop(key, None)

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

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        """The validated drafts for ``snapshot``, under the timeout; stores nothing (previews)."""
        return self.drafts(self.pool.call(Job(snapshot, source_hash="")))

    def close(self) -> None:
        """Stop the extractor's child processes; a worker calls it at shutdown."""
        self.pool.close()


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
