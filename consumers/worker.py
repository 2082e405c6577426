"""The consumer group member's shell: Kafka, PostgreSQL and the clock around a pure core.

What to do is decided by ``MemberCore`` (consumers/core.py): which batch to persist, which topics
to extract, what offsets are safe to commit, when to pause, probe, resume or seek. This module
feeds it events (a poll, a rebalance, the result of a command, the time) and carries out its
commands. Everything but the extractor itself runs on the poll thread; no step waits on an
extraction (docs/design.md, "Inside a member"):

    consume -> RecordsPolled -> Persist (parse, persist in one transaction, DLQ: ingest.py)
      -> the extractions finished since the last turn: validate each, replace them together
         (one transaction per STORE_BATCH topics), ExtractionFinished / ExtractionFailed /
         ExtractionTimedOut / ExtractionContended to the core
      -> Tick -> Extract each due topic: read its snapshot (one step's Extracts together) and
         source hash; a no-op is answered at once, anything else goes to the extraction pool
         (consumers/pool.py); RecordFailure
      -> CommitPoint -> CommitOffsets (the per-partition safe offsets)

While extractions run, a turn polls without waiting and then waits on the pool instead (at most
as long as the poll would have), so a finished extraction is stored at once, and records that
arrive meanwhile wait in librdkafka's queue for at most that long.

When PostgreSQL is unavailable the core pauses every partition (also those assigned later) and
the shell keeps polling, so the group does not expel it for blowing max.poll.interval.ms; a
probe tells when it is back. When PostgreSQL answers but refuses cardwright as configured
(read-only, unmigrated, permission revoked: ``DatabaseMisconfigured``), the same, and the held
work itself is the probe, retried with backoff; the member says once what to fix and is not
ready meanwhile (docs/design.md, "Failures: four classes"). Contention on a replace transaction is
retried for the topics stored in it alone; no partition is paused.

Observers (metrics, health, the audit log) get typed observations (consumers/observations.py):
a turn, a batch persisted, a run finished, a commit, an assignment, the database's state.
"""

from __future__ import annotations

import logging
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from sqlalchemy import Engine

from cardwright.consumers import core_events as ev
from cardwright.consumers import observations as obs
from cardwright.consumers.budget import OverBudget
from cardwright.consumers.clock import Clock, SystemClock
from cardwright.consumers.core import CoreConfig, MemberCore
from cardwright.consumers.dlq import DeadLetters
from cardwright.consumers.extraction import TopicExtraction, TopicOutcome, TopicStored
from cardwright.consumers.ingest import BatchIngest, Ingested
from cardwright.consumers.pool import Done, Job
from cardwright.schema.errors import (
    DatabaseContention,
    DatabaseMisconfigured,
    ExtractionFailed,
    ExtractionTimedOut,
    KafkaUnavailable,
    RetryableError,
)
from cardwright.schema.failpoints import (
    AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT,
    IN_ON_REVOKE,
    failpoint,
)
from cardwright.storage.engine import ping, translate_errors
from cardwright.storage.replace import StoredTopic, read_snapshot, record_failure

log = logging.getLogger("cardwright.consumer")

Partition = ev.Partition

# Extractions (and failure records) started per loop turn: most are no-ops answered at once
# (a replay, say), each a snapshot read; this bounds how long the loop goes without polling.
EXTRACTIONS_PER_TURN = 200
# Safe offsets are committed at most this often. A turn may end one extraction every few
# milliseconds now that none waits on the extractor, and each commit is a broker round trip;
# committing later is always safe (a crash redelivers a little more, which changes nothing).
COMMIT_EVERY_S = 0.1
# While paused for an outage, the poll only keeps the membership: no records come.
PAUSED_POLL_S = 0.5
# Memory bounds (docs/design.md, "Inside a member"): a pending topic costs a few hundred bytes,
# a held record its value (at most the broker's message size, typically under a kilobyte).
MAX_PENDING_TOPICS = 50_000
MAX_HELD_BATCHES = 10


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


Command = ev.Command[Message]
Result = ev.Event[Message]


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        consumer: Consumer,
        engine: Engine,
        extraction: TopicExtraction,
        dead_letters: DeadLetters,
        clock: Clock | None = None,
        on_event: obs.Observer | None = None,
    ) -> None:
        self.config = config
        self.consumer = consumer
        self.engine = engine
        self.extraction = extraction
        self.dead_letters = dead_letters
        self.clock = clock or SystemClock()
        self.stats = WorkerStats()
        self._observe: obs.Observer = on_event or (lambda _observation: None)
        self.core: MemberCore[Message] = MemberCore(
            CoreConfig(
                debounce_s=config.debounce_s,
                max_delay_s=config.max_delay_s,
                batch_size=config.batch_size,
                extract_attempts=config.extract_attempts,
                # The pool's slots and queue: the core never asks for more, nor for two of
                # one topic.
                max_in_flight=extraction.pool.capacity,
                max_pending=MAX_PENDING_TOPICS,
                max_held=MAX_HELD_BATCHES * config.batch_size,
            )
        )
        self._ingest = BatchIngest(engine, dead_letters, extraction.extractor.extractor_id)
        self._events: deque[Result] = deque()
        self._feeding = False
        self._in_callback = False
        self._after_poll: list[Command] = []  # pause/resume asked for inside a callback
        # An outage met while carrying out one event's commands: the rest of them that need
        # the database are answered "aborted" at once instead of each waiting to fail.
        self._outage_now: ev.Outage | None = None
        self._reported_outage: tuple[str, str] | None = None
        self._outage_sqlstate: str | None = None
        self._started = 0  # extractions and failure records started this turn
        # Snapshots of the Extract commands next in line, read together (``_read_ahead``).
        self._read: dict[ev.TopicKey, StoredTopic | None] = {}
        self._committed_at = float("-inf")  # the last CommitPoint
        self._stopping = False
        self._joined = False  # an assignment (possibly empty) has been received
        self._over_budget = False  # topics wait for the token budget (consumers/budget.py)
        self._last_record_at = self.clock.time()

    # --- lifecycle ---------------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        self._stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    # --- read accessors for observers (metrics); call them from the worker thread ------------

    def pending_count(self) -> int:
        return self.core.pending_count()

    def oldest_pending_age(self) -> float | None:
        """Seconds since the first pending event of the longest-waiting topic, if any."""
        since = self.core.oldest_pending_since()
        return None if since is None else max(0.0, self.clock.time() - since)

    def assigned_partitions(self) -> set[Partition]:
        return self.core.assigned()

    def committed_offsets(self) -> dict[Partition, int]:
        """The offsets this member committed last, per partition it still owns."""
        return self.core.committed()

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
            self._feed(ev.Stopping(self.clock.time()))
            self.consumer.close()  # leaves the group now instead of after the session timeout
            self.extraction.close()
            self.engine.dispose()

    def _turn(self) -> None:
        now = self.clock.time()
        self._observe(obs.Turn(self.core.pending_count()))
        pool = self.extraction.pool
        timeout = self._poll_timeout(now)
        if pool.busy():
            # Records already fetched are taken at once; with none, the wait is on the pool,
            # which answers as soon as an extraction ends (the consumer cannot be woken).
            records = self.consumer.consume(num_messages=self.config.batch_size, timeout=0)
            if not records:
                pool.wait(timeout)
        else:
            records = self.consumer.consume(num_messages=self.config.batch_size, timeout=timeout)
        after, self._after_poll = self._after_poll, []
        for command in after:
            self._execute(command)
        usable = [r for r in records if self._usable(r)]
        if usable:
            self._last_record_at = self.clock.time()
            polled = tuple(ev.Polled(_partition_of(r), _offset_of(r), r) for r in usable)
            self._feed(ev.RecordsPolled(self.clock.time(), polled))
            self._report_ends({p.partition for p in polled})
        self._conclude(pool.finished())
        self._start_due()
        now = self.clock.time()
        if now - self._committed_at >= COMMIT_EVERY_S:
            self._committed_at = now
            if self.core.outage() is None:
                failpoint(AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT)
            self._feed(ev.CommitPoint(now))

    def _start_due(self) -> None:
        """Tick the core; again while what it started was answered at once (no-ops, failure
        records) and slots are free, so a replay's no-ops are not one per turn."""
        self._started = 0
        while True:
            before = self._started
            self._feed(ev.Tick(self.clock.time()))
            if (
                self._started == before
                or self._started >= EXTRACTIONS_PER_TURN
                or self.extraction.pool.free() <= 0
            ):
                return

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

    def _report_ends(self, partitions: set[Partition]) -> None:
        """The log ends librdkafka learnt from its last fetches (no broker round trip), for
        the core's catch-up gating."""
        for topic, partition in sorted(partitions):
            try:
                _low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:  # not known yet: the partition is simply not gated
                continue
            if high is not None and high >= 0:
                self._feed(ev.PartitionEnd(self.clock.time(), (topic, partition), high))

    # --- the core's events and commands --------------------------------------------------------

    def _feed(self, event: Result) -> None:
        """Step the core with ``event`` and carry out what it asks, feeding results back. An
        event that arrives while this runs (a librdkafka callback) waits its turn."""
        self._events.append(event)
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._events:
                event = self._events.popleft()
                # An outage met before the event was fed (a stored extraction's, _conclude)
                # is the one it reports: its error names the fix (_report_outage).
                self._outage_now = event.cause if isinstance(event, ev.ExtractionAborted) else None
                pending: deque[Command] = deque(self.core.step(event))
                self._report_outage()
                while pending:
                    command = pending.popleft()
                    if isinstance(command, ev.Extract) and command.key not in self._read:
                        self._read_ahead(command.key, pending)
                    result = self._execute(command)
                    if result is not None:
                        pending.extend(self.core.step(result))
                    self._report_outage()
        finally:
            self._feeding = False
            self._read.clear()

    def _execute(self, command: Command) -> Result | None:
        match command:
            case ev.Persist(records):
                return self._persist(records)
            case ev.Extract(key):
                self._started += 1
                return self._extract(key)
            case ev.RecordFailure(key, cause, attempts):
                self._started += 1
                return self._record_failure(key, cause, attempts)
            case ev.CommitOffsets(offsets, synchronous):
                return self._commit(offsets, synchronous)
            case ev.Pause(partitions) | ev.Resume(partitions) if self._in_callback:
                self._after_poll.append(command)  # the assignment is applied after the callback
            case ev.Pause(partitions):
                self.consumer.pause(_topic_partitions(partitions))
            case ev.Resume(partitions):
                self.consumer.resume(_topic_partitions(partitions))
            case ev.Seek(partition, offset):
                self.consumer.seek(TopicPartition(partition[0], partition[1], offset))
            case ev.Probe():
                now = self.clock.time()
                answered = ping(self.engine)
                return ev.DatabaseUp(now) if answered else ev.DatabaseDown(now, "no answer")
            case ev.ResetConnections():
                # A pooled connection keeps the session defaults it began with (read-only, say).
                self.engine.dispose()
        return None

    def _outage_of(self, exc: RetryableError | DatabaseMisconfigured) -> ev.Outage:
        now = self.clock.time()
        outage: ev.Outage
        if isinstance(exc, DatabaseMisconfigured):
            self._outage_sqlstate = exc.sqlstate
            outage = ev.DatabaseMisconfigured(now, str(exc))
        else:
            outage = ev.DatabaseDown(now, str(exc))
        self._outage_now = outage
        return outage

    # --- persisting ----------------------------------------------------------------------------

    def _persist(self, records: tuple[ev.Polled[Message], ...]) -> Result:
        if self._outage_now is not None:
            return ev.PersistAborted(self.clock.time(), self._outage_now)
        batch = [p.record for p in records]
        try:
            result = self._ingest.ingest(batch)
        except (RetryableError, DatabaseMisconfigured) as exc:
            return ev.PersistAborted(self.clock.time(), self._outage_of(exc))
        self._observe_batch(batch, result)
        handled = [
            ev.Handled(
                _partition_of(record),
                _offset_of(record),
                key if (key := (event.user_id, event.topic_id)) in result.needs_extract else None,
            )
            for record, event in result.applied
        ]
        handled.extend(
            ev.Handled(_partition_of(record), _offset_of(record), None)
            for record, _error in result.dead
        )
        return ev.BatchPersisted(self.clock.time(), tuple(handled))

    def _observe_batch(self, batch: Sequence[Message], result: Ingested) -> None:
        self.stats.events += len(batch)
        self.stats.batches += 1
        self.stats.dead_lettered += len(result.dead)
        self.stats.persisted_messages += result.changed_messages
        self._observe(
            obs.BatchPersisted(
                size=len(batch),
                changed=result.changed_messages,
                dead_reasons=tuple(rejection.reason for _, rejection in result.dead),
                applied=tuple(
                    (
                        *_partition_of(r),
                        _offset_of(r),
                        e.user_id,
                        e.topic_id,
                        e.message_id,
                        e.revision,
                    )
                    for r, e in result.applied
                ),
                current=tuple(
                    sorted(
                        {(e.user_id, e.topic_id) for _r, e in result.applied} - result.needs_extract
                    )
                ),
            )
        )

    # --- extraction ----------------------------------------------------------------------------

    def _extract(self, key: ev.TopicKey) -> Result | None:
        """Read the topic's snapshot; answer a no-op (or a missing row) at once, else hand the
        extraction to the pool: its answer comes from a later turn's ``_conclude``."""
        if self._outage_now is not None:
            return ev.ExtractionAborted(self.clock.time(), key, self._outage_now)
        if key in self._read:
            stored = self._read.pop(key)
            prepared = self._topic_step(key, lambda: self.extraction.prepare_read(stored))
        else:
            prepared = self._topic_step(key, lambda: self.extraction.prepare(*key))
        if isinstance(prepared, Job):
            self.extraction.pool.submit(prepared)
            return None
        return prepared

    def _read_ahead(self, key: ev.TopicKey, pending: deque[Command]) -> None:
        """Read the snapshots of ``key`` and of the Extract commands right behind it in one
        query per table (``read_snapshots``), for ``_extract`` to use. Only those: they run next,
        with no other command between, so nothing is persisted between the read and its use
        (fencing would keep a stale read from costing more than a wasted extraction). A
        database error leaves each to read its own and meet the error as it would have."""
        keys = [key]
        for command in pending:
            if not isinstance(command, ev.Extract):
                break
            keys.append(command.key)
        if len(keys) < 2 or self._outage_now is not None:
            return
        try:
            self._read = self.extraction.read_many(keys)
        except (RetryableError, DatabaseMisconfigured):
            self._read = {}

    def _conclude(self, finished: list[Done]) -> None:
        """Store the extractions finished since the last turn and tell the core how each went.

        They are stored together (``store_many``): one transaction for up to ``STORE_BATCH``
        topics, each fenced on its own (docs/design.md, "Inside a member": group commit). Each
        topic's answer is the one ``store`` alone would give: a refused topic fails alone, a
        transaction's contention is each of its topics', and an outage met answers the topics
        left "aborted", as ``_feed`` does within one event."""
        if not finished:
            return
        self._outage_now = None
        results = []
        for done, stored in zip(finished, self.extraction.store_many(finished), strict=True):
            if self._outage_now is not None and not isinstance(stored, ExtractionFailed):
                results.append(
                    ev.ExtractionAborted(self.clock.time(), done.job.key, self._outage_now)
                )
                continue
            result = self._topic_step(done.job.key, partial(_given, stored))
            assert not isinstance(result, Job)
            results.append(result)
        for result in results:
            self._feed(result)

    def _topic_step(self, key: ev.TopicKey, step: Callable[[], TopicOutcome | Job]) -> Result | Job:
        """Carry out one step of a topic's extraction (``prepare`` or ``store``): a ``Job`` to
        hand to the pool, or the event that answers the core's ``Extract``."""
        user_id, topic_id = key
        try:
            result = step()
        except OverBudget as over:
            self._budget_spent(over)
            return ev.ExtractionDeferred(self.clock.time(), key, self.clock.time() + over.wait_s)
        except ExtractionTimedOut as exc:
            log.warning(
                "extraction timed out: %s", exc, extra={"user_id": user_id, "topic_id": topic_id}
            )
            return ev.ExtractionTimedOut(self.clock.time(), key, exc.cause)
        except ExtractionFailed as exc:
            self._budget_back()
            log.warning(
                "extraction failed: %s", exc, extra={"user_id": user_id, "topic_id": topic_id}
            )
            return ev.ExtractionFailed(self.clock.time(), key, exc.cause)
        except DatabaseContention as exc:
            # The database is healthy; this topic's transaction lost a race. Only it waits,
            # no partition is paused.
            log.info(
                "replace lost a race, retrying: %s",
                exc,
                extra={"user_id": user_id, "topic_id": topic_id},
            )
            return ev.ExtractionContended(self.clock.time(), key)
        except (RetryableError, DatabaseMisconfigured) as exc:
            return ev.ExtractionAborted(self.clock.time(), key, self._outage_of(exc))
        self._budget_back()
        if isinstance(result, Job):
            return result
        if not result.outcome.durable:
            self._rewound(key)
            return ev.ExtractionFinished(self.clock.time(), key, durable=False)
        self.stats.runs[result.outcome.value] = self.stats.runs.get(result.outcome.value, 0) + 1
        self._observe(
            obs.RunFinished(
                user_id,
                topic_id,
                result.outcome.value,
                result.snapshot.state_version if result.snapshot else None,
                result.extract_s,
                result.replace_s,
            )
        )
        return ev.ExtractionFinished(self.clock.time(), key, durable=True)

    def _record_failure(self, key: ev.TopicKey, cause: str, attempts: int) -> Result:
        if self._outage_now is not None:
            return ev.ExtractionAborted(self.clock.time(), key, self._outage_now)
        log.error(
            "extraction failed %d times; keeping previous cards: %s",
            attempts,
            cause,
            extra={"user_id": key[0], "topic_id": key[1]},
        )
        try:
            with translate_errors():
                stored = read_snapshot(self.engine, *key)
                if stored is None:
                    self._rewound(key)
                    return ev.FailureRecorded(self.clock.time(), key, durable=False)
                record_failure(
                    self.engine,
                    stored.snapshot,
                    self.extraction.extractor.extractor_id,
                    cause,
                    attempts,
                    self.config.instance,
                    self.extraction.take_failed_usage(key),
                )
        except DatabaseContention:
            return ev.ExtractionContended(self.clock.time(), key)
        except (RetryableError, DatabaseMisconfigured) as exc:
            return ev.ExtractionAborted(self.clock.time(), key, self._outage_of(exc))
        self.stats.runs["failed"] = self.stats.runs.get("failed", 0) + 1
        self._observe(obs.RunFinished(key[0], key[1], "failed"))
        return ev.FailureRecorded(self.clock.time(), key, durable=True)

    def _budget_spent(self, over: OverBudget) -> None:
        """Say once, when the token budget runs out, that topics wait (log, metrics, readiness)."""
        if self._over_budget:
            return
        self._over_budget = True
        log.warning("%s; previous cards stay until then", over)
        self._observe(obs.BudgetSpent(over.wait_s, str(over)))

    def _budget_back(self) -> None:
        if self._over_budget and not self.extraction.over_budget():
            self._over_budget = False
            log.info("token budget available again; extracting")
            self._observe(obs.BudgetAvailable())

    def _rewound(self, key: ev.TopicKey) -> None:
        """The topic's row is gone although this member persisted its events: the database lost
        writes (restored, reset, or a different database behind the same URL). The core reads
        its partitions again from their safe offsets; re-persisting recreates the row."""
        log.error(
            "topic row missing after its events were persisted; re-reading its partitions "
            "from their safe offsets (was the database restored or replaced?)",
            extra={"user_id": key[0], "topic_id": key[1]},
        )
        self._observe(obs.Rewound(key[0], key[1]))

    # --- offsets ------------------------------------------------------------------------------

    def _commit(
        self, offsets: tuple[tuple[Partition, int], ...], synchronous: bool
    ) -> Result | None:
        tps = [TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets]
        try:
            if not synchronous:
                self.consumer.commit(offsets=tps, asynchronous=True)
            else:
                failed = [
                    tp
                    for tp in self.consumer.commit(offsets=tps, asynchronous=False)
                    if tp.error is not None
                ]
                if failed:
                    raise KafkaUnavailable(f"commit refused: {failed[0].error}")
        except Exception as exc:  # a failed commit only delays progress; the next one retries
            self.stats.commit_failures += 1
            self._observe(obs.CommitRefused(str(exc)))
            log.warning(
                "offset commit failed: %s",
                exc,
                extra={"topic": self.config.topic, "offsets": {t.partition: t.offset for t in tps}},
            )
            return ev.CommitFailed(self.clock.time(), frozenset(p for p, _ in offsets))
        self._observe(obs.Committed(tps[0].topic, {tp.partition: tp.offset for tp in tps}))
        return None

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's report of an asynchronous commit: forget failed ones so they retry."""
        failed = [tp for tp in partitions if error is not None or tp.error is not None]
        if failed:
            self.stats.commit_failures += 1
            self._observe(obs.CommitRefused(str(error or failed[0].error)))
            forget = frozenset((t.topic, t.partition) for t in failed)
            self._feed(ev.CommitFailed(self.clock.time(), forget))

    # --- rebalances ---------------------------------------------------------------------------

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.stats.rebalances += 1
        if not self._joined:
            self._joined = True
            self._last_record_at = self.clock.time()  # idleness counts from joining the group
        self._callback(ev.Assigned(self.clock.time(), _partitions(partitions)))
        self._observe(obs.PartitionsAssigned(tuple(sorted(tp.partition for tp in partitions))))
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
        failpoint(IN_ON_REVOKE)
        self._callback(ev.Revoked(self.clock.time(), _partitions(partitions)))
        revoked = sorted(tp.partition for tp in partitions)
        self._observe(obs.PartitionsRevoked(tuple(revoked)))
        log.info("revoked %s", revoked, extra={"topic": self.config.topic, "partitions": revoked})

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own these already: the core forgets them without a commit.
        self.stats.rebalances += 1
        self._callback(ev.Lost(self.clock.time(), _partitions(partitions)))
        lost = sorted(tp.partition for tp in partitions)
        self._observe(obs.PartitionsLost(tuple(lost)))
        log.warning("lost %s", lost, extra={"topic": self.config.topic, "partitions": lost})

    def _callback(self, event: Result) -> None:
        self._in_callback = True
        try:
            self._feed(event)
        finally:
            self._in_callback = False

    # --- availability, as observers see it -----------------------------------------------------

    def _report_outage(self) -> None:
        """Say when the core's view of the database changes ("unavailable", "available",
        "misconfigured", "configured"); a misconfiguration is named once per distinct fix."""
        kind, reported = self.core.outage(), self._reported_outage
        met = self._outage_now
        if kind is None:
            if reported is not None:
                fixed = reported[0] == "misconfigured"
                log.info(f"database {'configuration fixed' if fixed else 'is back'}; resuming")
                self._observe(obs.DatabaseConfigured() if fixed else obs.DatabaseAvailable())
            self._reported_outage = None
            return
        error = met.error if met is not None else ""
        if reported is not None and reported[0] == kind and (kind == "down" or not error):
            return
        if reported is not None and reported == (kind, error):
            return
        self._reported_outage = (kind, error)
        if kind == "down":
            log.warning("dependency unavailable, pausing partitions: %s", error)
            self._observe(obs.DatabaseUnavailable(error))
            return
        # One line naming the fix; the retries that follow say nothing until it changes.
        sqlstate = self._outage_sqlstate
        log.error("%s; pausing partitions until it is fixed", error, extra={"sqlstate": sqlstate})
        self._observe(obs.DatabaseMisconfigured(error, sqlstate))

    # --- idleness -----------------------------------------------------------------------------

    def _poll_timeout(self, now: float) -> float:
        if self.core.outage() is not None:
            return PAUSED_POLL_S
        timeout = self.config.batch_timeout_s
        due = self.core.next_deadline()
        # With every slot taken, a due topic cannot start before an extraction ends, and the
        # wait on the pool ends with it: waking for the deadline would only spin the loop
        # (and take the CPU a starting extractor process needs).
        if due is not None and self.extraction.pool.free() > 0:
            timeout = max(0.0, min(timeout, due - now))
        return timeout

    def _idle_and_caught_up(self, idle_s: float) -> bool:
        if not self._joined or not self.core.quiescent():
            return False
        if self.clock.time() - self._last_record_at < idle_s:
            return False
        safe = self.core.safe_offsets()
        for topic, partition in self.core.assigned():
            tp = TopicPartition(topic, partition)
            _low, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            position = safe.get((topic, partition))
            if position is None:
                committed = self.consumer.committed([tp], timeout=10)[0].offset
                position = _low if committed == OFFSET_INVALID or committed < 0 else committed
            if position < high:
                return False
        return True


def _given(stored: TopicStored) -> TopicOutcome:
    """What ``store_many`` came to for one topic, as ``store`` would give it: returned or raised."""
    if isinstance(stored, TopicOutcome):
        return stored
    raise stored


def _partition_of(record: Message) -> Partition:
    return (str(record.topic()), int(record.partition() or 0))


def _offset_of(record: Message) -> int:
    return int(record.offset() or 0)


def _partitions(partitions: list[TopicPartition]) -> frozenset[Partition]:
    return frozenset((tp.topic, tp.partition) for tp in partitions)


def _topic_partitions(partitions: frozenset[Partition]) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for topic, partition in sorted(partitions)]
