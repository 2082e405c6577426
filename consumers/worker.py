"""The consumer group member: poll a batch, persist it, debounce topics, extract, commit.

One thread does everything, in this order, so that no event is counted done before its effect
is durable:

    consume batch -> parse (bad -> DLQ) -> persist (one transaction) -> DLQ acked (ingest.py)
      -> mark offsets handled (waiting on their topic when it needs extraction)
      -> extract due topics (each in its own replace transaction) -> release their offsets
      -> commit the per-partition safe offsets

When PostgreSQL is unavailable the worker pauses its partitions and keeps polling, so the group
does not expel it for blowing max.poll.interval.ms; the held batch is retried when it returns.
When PostgreSQL answers but refuses cardwright as configured (read-only, unmigrated, permission
revoked: ``DatabaseMisconfigured``), the worker does the same, says once what to fix, is not
ready meanwhile, and retries the held work with backoff until it goes through (docs/design.md,
"Failures: four classes"). Contention on a topic's replace is retried for that topic alone.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, Message, TopicPartition
from sqlalchemy import Engine

from cardwright.consumers.backoff import exponential
from cardwright.consumers.clock import Clock, SystemClock
from cardwright.consumers.debounce import Debouncer
from cardwright.consumers.dlq import DeadLetters
from cardwright.consumers.extraction import TopicExtraction
from cardwright.consumers.ingest import BatchIngest
from cardwright.consumers.watermark import Watermarks
from cardwright.schema.cards import TopicKey
from cardwright.schema.errors import (
    DatabaseContention,
    DatabaseMisconfigured,
    ExtractionFailed,
    KafkaUnavailable,
    RetryableError,
)
from cardwright.schema.failpoints import (
    AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT,
    IN_ON_REVOKE,
    failpoint,
)
from cardwright.storage.engine import ping, translate_errors
from cardwright.storage.replace import read_snapshot, record_failure

log = logging.getLogger("cardwright.consumer")

Partition = tuple[str, int]

# Backoff for a failing extraction and for an unavailable database: doubling from one second,
# capped so that a recovered dependency is noticed within half a minute.
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
# A replace that lost a race (deadlock, lock timeout) is tried again after this long: past
# PostgreSQL's default deadlock_timeout (1 s), so the other transaction has finished.
CONTENTION_RETRY_S = 1.0
# Due topics extracted per loop turn: bounds how long the loop goes without polling.
EXTRACTIONS_PER_TURN = 200


def backoff(attempt: int) -> float:
    return exponential(attempt, BACKOFF_BASE_S, BACKOFF_CAP_S)


@dataclass(slots=True)
class WorkerStats:
    events: int = 0
    dead_lettered: int = 0
    batches: int = 0
    persisted_messages: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    rebalances: int = 0
    commit_failures: int = 0


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    topic: str
    debounce_s: float
    max_delay_s: float
    batch_size: int
    batch_timeout_s: float
    extract_attempts: int
    instance: str


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        consumer: Consumer,
        engine: Engine,
        extraction: TopicExtraction,
        dead_letters: DeadLetters,
        clock: Clock | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.consumer = consumer
        self.engine = engine
        self.extraction = extraction
        self.dead_letters = dead_letters
        self.clock = clock or SystemClock()
        self.stats = WorkerStats()
        self._observe = on_event or (lambda _name, _fields: None)
        self._debouncer: Debouncer[TopicKey] = Debouncer(config.debounce_s, config.max_delay_s)
        self._watermarks: Watermarks[Partition, TopicKey] = Watermarks()
        self._committed: dict[Partition, int] = {}
        self._assigned: set[Partition] = set()
        self._held: list[Message] = []  # a batch waiting for the database to come back
        self._fresh: set[Partition] = set()  # assigned during the last poll, pause state unset
        self._unavailable_since: float | None = None
        self._misconfigured: DatabaseMisconfigured | None = None
        self._misconfigured_attempts = 0
        self._retry_at = 0.0
        self._stopping = False
        self._joined = False  # an assignment (possibly empty) has been received
        self._ingest = BatchIngest(engine, dead_letters, extraction.extractor.extractor_id)
        self._last_record_at = self.clock.time()

    # --- lifecycle ---------------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        self._stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    # --- read accessors for observers (metrics); call them from the worker thread ------------

    def pending_count(self) -> int:
        return len(self._debouncer)

    def oldest_pending_age(self) -> float | None:
        """Seconds since the first pending event of the longest-waiting topic, if any."""
        since = self._debouncer.oldest_pending_since()
        return None if since is None else max(0.0, self.clock.time() - since)

    def assigned_partitions(self) -> set[Partition]:
        return set(self._assigned)

    def committed_offsets(self) -> dict[Partition, int]:
        """The offsets this member committed last, per partition it still owns."""
        return dict(self._committed)

    def run(self, until_idle_s: float | None = None) -> None:
        """Consume until stopped, or until caught up and idle for ``until_idle_s`` seconds."""
        self.consumer.subscribe(
            [self.config.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not self._stopping:
                self._turn()
                if until_idle_s is not None and self._idle_and_caught_up(until_idle_s):
                    log.info("caught up and idle; exiting", extra={"stats": self.stats})
                    break
        finally:
            self._commit(asynchronous=False)
            self.consumer.close()  # leaves the group now instead of after the session timeout
            self.extraction.close()
            self.engine.dispose()

    def _turn(self) -> None:
        now = self.clock.time()
        self._observe("turn", {"pending": len(self._debouncer)})
        if self._unavailable_since is not None:
            self._while_unavailable(now)
            return
        if self._misconfigured is not None:
            self._while_misconfigured(now)
            return
        records = self.consumer.consume(
            num_messages=self.config.batch_size, timeout=self._poll_timeout(now)
        )
        self._settle_assigned()
        batch = self._held + [r for r in records if self._usable(r)]
        self._held = []
        batch_done = False
        try:
            if batch:
                self._handle_batch(batch)
            batch_done = True
            self._extract_due()
        except RetryableError as exc:
            if not batch_done:
                self._held = batch  # persisting is idempotent, so the whole batch is retried
            self._become_unavailable(exc)
            return
        except DatabaseMisconfigured as exc:
            if not batch_done:
                self._held = batch  # nothing dead-lettered, no offset moved
            self._become_misconfigured(exc)
            return
        self._commit(asynchronous=True)

    # --- the batch ----------------------------------------------------------------------------

    def _usable(self, record: Message) -> bool:
        error = record.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        if error.fatal():
            raise KafkaUnavailable(f"fatal consumer error: {error}")
        log.warning(
            "consumer error: %s",
            error,
            extra={"topic": record.topic(), "partition": record.partition()},
        )
        return False

    def _handle_batch(self, batch: Sequence[Message]) -> None:
        self._last_record_at = self.clock.time()
        result = self._ingest.ingest(batch)
        now = self.clock.time()
        for record, event in result.applied:
            key = (event.user_id, event.topic_id)
            waits = key in result.needs_extract
            self._watermarks.handled(
                _partition_of(record), _offset_of(record), key if waits else None
            )
            if waits:
                self._debouncer.touch(key, now)
        for record, _error in result.dead:
            self._watermarks.handled(_partition_of(record), _offset_of(record), None)
        self.stats.events += len(batch)
        self.stats.batches += 1
        self.stats.dead_lettered += len(result.dead)
        self.stats.persisted_messages += result.changed_messages
        self._observe(
            "batch",
            {
                "size": len(batch),
                "changed": result.changed_messages,
                "dead_reasons": [rejection.reason for _, rejection in result.dead],
                # (topic, partition, offset, user_id, topic_id, message_id, revision) applied
                "applied": [
                    (
                        *_partition_of(r),
                        _offset_of(r),
                        e.user_id,
                        e.topic_id,
                        e.message_id,
                        e.revision,
                    )
                    for r, e in result.applied
                ],
                # Topics of this batch whose cards already come from their stored input with
                # this extractor (a replay, a duplicate): no extraction needed, a no-op.
                "current": sorted(
                    {(e.user_id, e.topic_id) for _r, e in result.applied} - result.needs_extract
                ),
            },
        )

    # --- extraction ---------------------------------------------------------------------------

    def _extract_due(self) -> None:
        now = self.clock.time()
        due = self._debouncer.pop_due(now, limit=EXTRACTIONS_PER_TURN)
        for index, key in enumerate(due):
            user_id, topic_id = key
            try:
                try:
                    result = self.extraction.run(user_id, topic_id)
                except ExtractionFailed as exc:
                    self._extraction_failed(key, exc)
                    continue
                except DatabaseContention as exc:
                    # The database is healthy; this topic's transaction lost a race. Only it
                    # waits, no partition is paused.
                    log.info(
                        "replace lost a race, retrying: %s",
                        exc,
                        extra={"user_id": user_id, "topic_id": topic_id},
                    )
                    self._debouncer.reschedule(key, now + CONTENTION_RETRY_S)
                    continue
            except (RetryableError, DatabaseMisconfigured):
                # pop_due disarmed every key it returned: re-arm this one and all after it, or
                # they stay pending forever and hold back their partitions' offsets.
                for waiting in due[index:]:
                    self._debouncer.reschedule(waiting, now)
                raise
            if not result.outcome.durable:
                self._rewind(key)
                continue
            self.stats.runs[result.outcome.value] = self.stats.runs.get(result.outcome.value, 0) + 1
            self._observe(
                "run",
                {
                    "user_id": user_id,
                    "topic_id": topic_id,
                    "outcome": result.outcome.value,
                    "state_version": result.snapshot.state_version if result.snapshot else None,
                    "extract_s": result.extract_s,
                    "replace_s": result.replace_s,
                },
            )
            self._release(key)
        failpoint(AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT)

    def _extraction_failed(self, key: TopicKey, exc: ExtractionFailed) -> None:
        attempts = self._debouncer.attempts(key) + 1
        if attempts < self.config.extract_attempts:
            self._debouncer.retry_at(key, self.clock.time() + backoff(attempts))
            log.warning(
                "extraction failed (attempt %d), will retry: %s",
                attempts,
                exc,
                extra={"user_id": key[0], "topic_id": key[1]},
            )
            return
        log.error(
            "extraction failed %d times; keeping previous cards: %s",
            attempts,
            exc,
            extra={"user_id": key[0], "topic_id": key[1]},
        )
        with translate_errors():
            stored = read_snapshot(self.engine, *key)
            if stored is None:
                self._rewind(key)
                return
            record_failure(
                self.engine,
                stored.snapshot,
                self.extraction.extractor.extractor_id,
                exc.cause,
                attempts,
                self.config.instance,
            )
        self.stats.runs["failed"] = self.stats.runs.get("failed", 0) + 1
        self._observe("run", {"user_id": key[0], "topic_id": key[1], "outcome": "failed"})
        self._release(key)

    def _release(self, key: TopicKey) -> None:
        self._debouncer.done(key)
        self._watermarks.release(key)

    def _rewind(self, key: TopicKey) -> None:
        """The topic's row is gone although this member persisted its events: the database lost
        writes (restored, reset, or a different database behind the same URL). Releasing the
        topic would commit offsets past events whose effect is not durable, so its partitions
        are read again from their safe offsets instead; re-persisting recreates the row."""
        partitions = self._watermarks.partitions_of(key)
        safe = self._watermarks.safe_offsets()
        log.error(
            "topic row missing after its events were persisted; re-reading partitions %s "
            "from their safe offsets (was the database restored or replaced?)",
            sorted(partitions),
            extra={"user_id": key[0], "topic_id": key[1]},
        )
        self._debouncer.drop(self._watermarks.drop(partitions) | {key})
        self._held = [r for r in self._held if _partition_of(r) not in partitions]
        for topic, partition in partitions:
            offset = safe.get((topic, partition), self._committed.get((topic, partition)))
            if offset is not None:
                self.consumer.seek(TopicPartition(topic, partition, offset))
        self._observe("rewound", {"user_id": key[0], "topic_id": key[1]})

    # --- offsets ------------------------------------------------------------------------------

    def _commit(self, asynchronous: bool, only: set[Partition] | None = None) -> None:
        """Commit safe offsets; an asynchronous commit skips partitions already committed there,
        a synchronous one (revoke, shutdown) commits them all again in case one was lost."""
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in self._watermarks.safe_offsets().items()
            if (only is None or (topic, partition) in only)
            and (not asynchronous or self._committed.get((topic, partition)) != offset)
        ]
        if not offsets:
            return
        try:
            if asynchronous:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            else:
                failed = [
                    tp
                    for tp in self.consumer.commit(offsets=offsets, asynchronous=False)
                    if tp.error is not None
                ]
                if failed:
                    raise KafkaUnavailable(f"commit refused: {failed[0].error}")
        except Exception as exc:  # a failed commit only delays progress; the next one retries
            self.stats.commit_failures += 1
            self._observe("commit_failed", {"error": str(exc)})
            log.warning(
                "offset commit failed: %s",
                exc,
                extra={
                    "topic": self.config.topic,
                    "offsets": {t.partition: t.offset for t in offsets},
                },
            )
            return
        committed = {}
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
            committed[tp.partition] = tp.offset
        self._observe("commit", {"topic": offsets[0].topic, "offsets": committed})

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's report of an asynchronous commit: forget failed ones so they retry."""
        failed = [tp for tp in partitions if error is not None or tp.error is not None]
        for tp in failed:
            self._committed.pop((tp.topic, tp.partition), None)
        if failed:
            self.stats.commit_failures += 1
            self._observe("commit_failed", {"error": str(error or failed[0].error)})

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.stats.rebalances += 1
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}
        self._fresh |= {(tp.topic, tp.partition) for tp in partitions}
        if not self._joined:
            self._joined = True
            self._last_record_at = self.clock.time()  # idleness counts from joining the group
        self._observe("assigned", {"partitions": sorted(tp.partition for tp in partitions)})
        log.info(
            "assigned %s",
            sorted(tp.partition for tp in partitions),
            extra={
                "topic": self.config.topic,
                "partitions": sorted(tp.partition for tp in partitions),
            },
        )

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.stats.rebalances += 1
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        failpoint(IN_ON_REVOKE)
        self._commit(asynchronous=False, only=revoked)
        self._forget(revoked)
        self._observe("revoked", {"partitions": sorted(p for _, p in revoked)})
        log.info(
            "revoked %s",
            sorted(p for _, p in revoked),
            extra={"topic": self.config.topic, "partitions": sorted(p for _, p in revoked)},
        )

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own these already: committing now could move its offsets.
        self.stats.rebalances += 1
        self._forget({(tp.topic, tp.partition) for tp in partitions})
        self._observe("lost", {"partitions": sorted(tp.partition for tp in partitions)})
        log.warning(
            "lost %s",
            sorted(tp.partition for tp in partitions),
            extra={
                "topic": self.config.topic,
                "partitions": sorted(tp.partition for tp in partitions),
            },
        )

    def _forget(self, partitions: set[Partition]) -> None:
        orphaned = self._watermarks.drop(partitions)
        self._debouncer.drop(orphaned)
        self._held = [r for r in self._held if _partition_of(r) not in partitions]
        for partition in partitions:
            self._committed.pop(partition, None)
        self._assigned -= partitions

    # --- availability -------------------------------------------------------------------------

    def _settle_assigned(self) -> None:
        """Partitions assigned during the last poll start as the member is now: paused during an
        outage or a configuration fault, reading otherwise. librdkafka keeps a partition's pause
        flag across a revoke and a later assignment to the same member, so a partition paused in
        an outage, revoked, and given back after it would never be read again; and one assigned
        during an outage would be read into memory while nothing can be stored."""
        fresh = [TopicPartition(t, p) for (t, p) in sorted(self._fresh) if (t, p) in self._assigned]
        self._fresh.clear()
        if not fresh:
            return
        if self._unavailable_since is not None or self._misconfigured is not None:
            self.consumer.pause(fresh)
        else:
            self.consumer.resume(fresh)

    def _become_unavailable(self, exc: Exception) -> None:
        now = self.clock.time()
        if self._unavailable_since is None:
            self._unavailable_since = now
            log.warning("dependency unavailable, pausing partitions: %s", exc)
            self._observe("unavailable", {"error": str(exc)})
            self.consumer.pause(self.consumer.assignment())
        attempt = int((now - self._unavailable_since) // BACKOFF_BASE_S) + 1
        self._retry_at = now + min(backoff(attempt), 5.0)

    def _become_misconfigured(self, exc: DatabaseMisconfigured) -> None:
        now = self.clock.time()
        if self._misconfigured is None or str(self._misconfigured) != str(exc):
            # One line naming the fix; the retries that follow say nothing until it changes.
            log.error(
                "%s; pausing partitions until it is fixed", exc, extra={"sqlstate": exc.sqlstate}
            )
            self._observe("misconfigured", {"error": str(exc), "sqlstate": exc.sqlstate})
        if self._misconfigured is None:
            self._misconfigured_attempts = 0
            self.consumer.pause(self.consumer.assignment())
        self._misconfigured = exc
        self._misconfigured_attempts += 1
        self._retry_at = now + backoff(self._misconfigured_attempts)

    def _while_misconfigured(self, now: float) -> None:
        # Keep polling (and so the group membership) while paused, as during an outage.
        records = self.consumer.consume(num_messages=self.config.batch_size, timeout=0.5)
        self._settle_assigned()
        self._held.extend(r for r in records if self._usable(r))
        if now < self._retry_at:
            return
        # The probe is the held work itself: it goes through once the database is fixed. Fresh
        # connections: a pooled one keeps the session defaults it began with (read-only, say).
        self.engine.dispose()
        batch, self._held = self._held, []
        batch_done = False
        try:
            if batch:
                self._handle_batch(batch)
            batch_done = True
            self._extract_due()
        except DatabaseMisconfigured as exc:
            if not batch_done:
                self._held = batch
            self._become_misconfigured(exc)
            return
        except RetryableError as exc:
            if not batch_done:
                self._held = batch
            self._misconfigured = None  # now an outage: paused still, probed by ping
            self._become_unavailable(exc)
            return
        log.info("database configuration fixed; resuming")
        self._observe("configured", {})
        self._misconfigured = None
        self.consumer.resume(self.consumer.assignment())
        self._commit(asynchronous=True)

    def _while_unavailable(self, now: float) -> None:
        # Polling paused partitions returns no records but keeps this member in the group.
        records = self.consumer.consume(num_messages=self.config.batch_size, timeout=0.5)
        self._settle_assigned()
        self._held.extend(r for r in records if self._usable(r))
        if now < self._retry_at:
            return
        if not ping(self.engine):
            self._retry_at = now + 2.0
            return
        log.info("database is back; resuming")
        self._observe("available", {})
        self._unavailable_since = None
        self.consumer.resume(self.consumer.assignment())

    # --- idleness -----------------------------------------------------------------------------

    def _poll_timeout(self, now: float) -> float:
        timeout = self.config.batch_timeout_s
        due = self._debouncer.next_due()
        if due is not None:
            timeout = max(0.0, min(timeout, due - now))
        return timeout

    def _idle_and_caught_up(self, idle_s: float) -> bool:
        if not self._joined or self._held or len(self._debouncer):
            return False
        if self._unavailable_since is not None or self._misconfigured is not None:
            return False
        if self.clock.time() - self._last_record_at < idle_s:
            return False
        safe = self._watermarks.safe_offsets()
        for topic, partition in self._assigned:
            tp = TopicPartition(topic, partition)
            _low, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            position = safe.get((topic, partition))
            if position is None:
                committed = self.consumer.committed([tp], timeout=10)[0].offset
                position = _low if committed == OFFSET_INVALID or committed < 0 else committed
            if position < high:
                return False
        return True


def _partition_of(record: Message) -> Partition:
    return (str(record.topic()), int(record.partition() or 0))


def _offset_of(record: Message) -> int:
    return int(record.offset() or 0)
