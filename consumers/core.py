"""The pure core of a consumer group member: what to do next, given what happened.

``MemberCore.step(event) -> commands`` (the vocabulary is consumers/core_events.py). It owns:

- the records polled and not yet persisted (held), persisted one batch at a time;
- the per-partition commit watermarks (consumers/waits.py over consumers/watermark.py): an
  offset is committed only once its record's effect is durable (docs/design.md, "Flow");
- the pending topics and their schedule (consumers/debounce.py), gated while a partition reads
  a backlog (consumers/catchup.py), and the extractions in flight: never two of one topic;
- retries with backoff of failed extractions, and the failure record after the last attempt;
- outages: the database down (pause, probe, resume) or refusing us as configured (pause, retry
  the held work with backoff as the probe), docs/design.md "Failures: four classes";
- backpressure: past a bound of pending topics or held records every partition is paused,
  including ones assigned later, until both fall below a low-water mark.

No Kafka, SQL, threads or clock reads: every ``now`` comes in an event, and the shell
(consumers/worker.py) carries out the commands and feeds their results back.

Extraction may overlap persisting: a run releases only the offsets persisted before it was
started, later ones wait on a later run (consumers/waits.py keeps them in generations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal

from cardwright.consumers.backoff import exponential
from cardwright.consumers.catchup import CatchUp
from cardwright.consumers.core_events import (
    Assigned,
    BatchPersisted,
    Command,
    CommitFailed,
    CommitOffsets,
    CommitPoint,
    DatabaseDown,
    DatabaseMisconfigured,
    DatabaseUp,
    Event,
    Extract,
    ExtractionAborted,
    ExtractionContended,
    ExtractionDeferred,
    ExtractionFailed,
    ExtractionFinished,
    ExtractionTimedOut,
    FailureRecorded,
    Handled,
    Lost,
    Outage,
    Partition,
    PartitionEnd,
    Pause,
    Persist,
    PersistAborted,
    Polled,
    Probe,
    R,
    RecordFailure,
    RecordsPolled,
    ResetConnections,
    Resume,
    Revoked,
    Seek,
    Stopping,
    Tick,
    TopicKey,
)
from cardwright.consumers.debounce import Debouncer
from cardwright.consumers.waits import TopicWaits

# Backoff for a failing extraction and for a misconfigured database: doubling from one second,
# capped so that a fixed dependency is noticed within half a minute.
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
# An unreachable database is probed at most this far apart: a probe is one cheap SELECT 1.
DOWN_PROBE_CAP_S = 5.0
# A replace that lost a race (deadlock, lock timeout) is tried again after this long: past
# PostgreSQL's default deadlock_timeout (1 s), so the other transaction has finished.
CONTENTION_RETRY_S = 1.0


def backoff(attempt: int, cap: float = BACKOFF_CAP_S) -> float:
    return exponential(attempt, BACKOFF_BASE_S, cap)


@dataclass(frozen=True, slots=True)
class CoreConfig:
    debounce_s: float
    max_delay_s: float
    # Records per Persist, and the lag (in records) past which a partition is catching up.
    batch_size: int
    extract_attempts: int
    # Extractions (and failure records) at once; a topic is never in two.
    max_in_flight: int = 1
    # Bounds of memory: topics waiting, records polled but not yet persisted. Past either,
    # every partition is paused; below ``low_water`` of both, resumed.
    max_pending: int = 20_000
    max_held: int = 10_000
    low_water: float = 0.5


@dataclass(frozen=True, slots=True)
class _Flight:
    covers: frozenset[int]  # the generations of waits it releases when durable
    recording_failure: bool = False


@dataclass(slots=True)
class _Outage:
    kind: Literal["down", "misconfigured"]
    error: str
    attempts: int
    retry_at: float
    probing: bool = False


@dataclass(slots=True)
class _Batch(Generic[R]):
    """The records of the one Persist in flight, and what the core needs back from them."""

    records: list[Polled[R]]
    backlog: dict[tuple[Partition, int], bool]
    epochs: dict[Partition, int] = field(default_factory=dict)


class MemberCore(Generic[R]):
    def __init__(self, config: CoreConfig) -> None:
        self.config = config
        self._assigned: set[Partition] = set()
        # Bumped when a partition is forgotten or read again, so answers about records read
        # before (a Persist in flight) are not mistaken for the current reading.
        self._epoch: dict[Partition, int] = {}
        self._paused: set[Partition] = set()
        self._unsure: set[Partition] = set()  # assigned since the last reconcile
        self._held: list[tuple[Polled[R], bool]] = []  # (record, read as backlog)
        self._persisting: _Batch[R] | None = None
        self._waits = TopicWaits()
        self._schedule: Debouncer[TopicKey] = Debouncer(config.debounce_s, config.max_delay_s)
        self._catchup = CatchUp(config.batch_size)
        self._flights: dict[TopicKey, _Flight] = {}
        self._failures: dict[TopicKey, tuple[int, str]] = {}  # attempts so far, last cause
        self._deferred: set[TopicKey] = set()  # came due while in flight
        self._outage: _Outage | None = None
        self._backpressure = False
        self._committed: dict[Partition, int] = {}
        self._out: list[Command[R]] = []

    # --- the one entry point -----------------------------------------------------------------

    def step(self, event: Event[R]) -> list[Command[R]]:
        """Take one event; return the commands to carry out, in order."""
        self._out = []
        if not self._on_group(event):
            self._on_result(event)
        self._maybe_persist()
        self._reconcile_pause()
        out, self._out = self._out, []
        return out

    def _on_group(self, event: Event[R]) -> bool:
        match event:
            case Tick(now):
                self._tick(now)
            case CommitPoint():
                self._commit(synchronous=False)
            case RecordsPolled(now, records):
                self._polled(now, records)
            case PartitionEnd(now, partition, high):
                if partition in self._assigned:
                    self._catchup.end(partition, high)
                    self._fire(self._catchup.reached_end(partition), now)
            case Assigned(_, partitions):
                self._assigned |= partitions
                # librdkafka keeps a partition's pause flag across a revoke and a later
                # assignment to the same member: its state is unknown until set again.
                self._unsure |= partitions
            case Revoked(_, partitions):
                self._commit(synchronous=True, only=partitions)
                self._forget(partitions)
            case Lost(_, partitions):
                self._forget(partitions)  # another member may own them: no commit
            case Stopping():
                self._commit(synchronous=True)
            case CommitFailed(_, partitions):
                for partition in partitions:
                    self._committed.pop(partition, None)
            case _:
                return False
        return True

    def _on_result(self, event: Event[R]) -> None:
        match event:
            case BatchPersisted(now, handled):
                self._persisted(now, handled)
            case PersistAborted(now, cause):
                self._persist_aborted(cause)
            case ExtractionFinished(now, key, durable) | FailureRecorded(now, key, durable):
                self._finished(now, key, durable)
            case ExtractionFailed(now, key, cause) | ExtractionTimedOut(now, key, cause):
                self._failed(now, key, cause)
            case ExtractionContended(now, key):
                self._flights.pop(key, None)
                self._retry(key, now + CONTENTION_RETRY_S)
            case ExtractionDeferred(now, key, until):
                self._flights.pop(key, None)
                self._retry(key, max(now, until))
            case ExtractionAborted(now, key, cause):
                self._flights.pop(key, None)
                self._retry(key, now)
                self._outage_begins(cause)
            case DatabaseDown() | DatabaseMisconfigured():
                self._outage_begins(event)
            case DatabaseUp():
                if self._outage is not None and self._outage.kind == "down":
                    self._outage = None

    # --- what observers and the shell may read -----------------------------------------------

    def pending_count(self) -> int:
        """Topics with events whose cards are not derived yet (in flight included)."""
        return len(self._waits)

    def held_count(self) -> int:
        """Records polled and not yet persisted (the batch being persisted included)."""
        return len(self._held) + (len(self._persisting.records) if self._persisting else 0)

    def in_flight(self) -> set[TopicKey]:
        return set(self._flights)

    def oldest_pending_since(self) -> float | None:
        return self._schedule.oldest_pending_since()

    def assigned(self) -> set[Partition]:
        return set(self._assigned)

    def paused(self) -> set[Partition]:
        return set(self._paused)

    def committed(self) -> dict[Partition, int]:
        return dict(self._committed)

    def safe_offsets(self) -> dict[Partition, int]:
        return {p: o for p, o in self._waits.safe_offsets().items() if p in self._assigned}

    def outage(self) -> str | None:
        """``"down"``, ``"misconfigured"`` or None."""
        return None if self._outage is None else self._outage.kind

    def next_deadline(self) -> float | None:
        """When a Tick has something to start, if nothing else happens first."""
        deadlines = []
        due = self._schedule.next_due()
        if due is not None:
            deadlines.append(due)
        if self._outage is not None and not self._outage.probing:
            deadlines.append(self._outage.retry_at)
        return min(deadlines, default=None)

    def quiescent(self) -> bool:
        """Nothing held, pending, in flight or failing over."""
        return not (
            self._held or self._persisting or len(self._waits) or self._flights or self._outage
        )

    # --- time ----------------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        outage = self._outage
        if outage is not None and not outage.probing and now >= outage.retry_at:
            outage.probing = True
            # Down: ask whether it answers. Misconfigured: it answers, so the held work itself
            # is the probe, on fresh connections.
            self._out.append(Probe() if outage.kind == "down" else ResetConnections())
        if self._working():
            self._start_extractions(now)
        outage = self._outage
        if (
            outage is not None
            and outage.kind == "misconfigured"
            and outage.probing
            and not self._held
            and self._persisting is None
            and not self._flights
        ):
            self._outage = None  # nothing to try it with: resume, and learn from the next write

    def _working(self) -> bool:
        outage = self._outage
        return outage is None or (outage.kind == "misconfigured" and outage.probing)

    # --- records ---------------------------------------------------------------------------------

    def _polled(self, now: float, records: tuple[Polled[R], ...]) -> None:
        refused: set[Partition] = set()
        ranges: dict[Partition, tuple[int, int]] = {}
        accepted: list[Polled[R]] = []
        for polled in records:
            partition = polled.partition
            if partition not in self._assigned or partition in refused:
                continue
            if partition in self._paused or self.held_count() + len(accepted) >= (
                self.config.max_held
            ):
                # Over the bound (or paused, which a poll in flight may not have seen): not
                # held; read again from here once there is room.
                refused.add(partition)
                self._out.append(Seek(partition, polled.offset))
                continue
            first, _ = ranges.get(partition, (polled.offset, polled.offset))
            ranges[partition] = (first, polled.offset)
            accepted.append(polled)
        backlog = {p: self._catchup.polled(p, first, last) for p, (first, last) in ranges.items()}
        self._held.extend((polled, backlog[polled.partition]) for polled in accepted)
        for partition in ranges:
            self._fire(self._catchup.reached_end(partition), now)

    def _maybe_persist(self) -> None:
        if self._persisting is not None or not self._held or not self._working():
            return
        if len(self._waits) >= self.config.max_pending:
            return  # backpressure: no new topics until extraction catches up
        taken, self._held = (
            self._held[: self.config.batch_size],
            self._held[self.config.batch_size :],
        )
        batch = _Batch(
            records=[polled for polled, _ in taken],
            backlog={(polled.partition, polled.offset): flag for polled, flag in taken},
            epochs={polled.partition: self._epoch.get(polled.partition, 0) for polled, _ in taken},
        )
        self._persisting = batch
        self._out.append(Persist(tuple(batch.records)))

    def _persisted(self, now: float, handled: tuple[Handled, ...]) -> None:
        batch, self._persisting = self._persisting, None
        if batch is None:
            return
        self._probe_succeeded()
        # Log order within a partition: a topic's first wait must be its lowest offset.
        for item in sorted(handled, key=lambda h: (h.partition, h.offset)):
            partition = item.partition
            if partition not in self._assigned or batch.epochs.get(partition) != self._epoch.get(
                partition, 0
            ):
                continue  # forgotten or rewound since: the records will be read again
            key = item.waits_on
            self._waits.handled(partition, item.offset, key)
            if key is not None:
                backlog = batch.backlog.get((partition, item.offset), False)
                self._touch(key, partition, backlog, now)

    def _touch(self, key: TopicKey, partition: Partition, backlog: bool, now: float) -> None:
        if backlog and self._catchup.catching_up(partition):
            self._schedule.touch(key, now, hold=True)
            self._catchup.hold(partition, key)
            return
        self._schedule.touch(key, now)
        if backlog:
            self._schedule.fire(key, now)  # its backlog has been read to the end meanwhile

    def _fire(self, keys: set[TopicKey], now: float) -> None:
        for key in keys:
            self._schedule.fire(key, now)

    def _persist_aborted(self, cause: Outage) -> None:
        batch, self._persisting = self._persisting, None
        if batch is not None:
            kept = [
                (polled, batch.backlog[(polled.partition, polled.offset)])
                for polled in batch.records
                if polled.partition in self._assigned
                and batch.epochs.get(polled.partition) == self._epoch.get(polled.partition, 0)
            ]
            self._held = kept + self._held
        self._outage_begins(cause)

    # --- extraction ------------------------------------------------------------------------------

    def _start_extractions(self, now: float) -> None:
        free = self.config.max_in_flight - len(self._flights)
        if free <= 0:
            return
        for key in self._schedule.pop_due(now, limit=free):
            if key in self._flights:
                self._deferred.add(key)  # new input came due while it runs: again after it
                continue
            covers = self._waits.close(key)  # later input waits on a later extraction
            self._schedule.done(key)
            self._deferred.discard(key)
            if not covers:
                self._failures.pop(key, None)  # dropped with its partitions meanwhile
                continue
            failures = self._failures.get(key)
            if failures is not None and failures[0] >= self.config.extract_attempts:
                self._flights[key] = _Flight(covers, recording_failure=True)
                self._out.append(RecordFailure(key, failures[1], failures[0]))
            else:
                self._flights[key] = _Flight(covers)
                self._out.append(Extract(key))

    def _finished(self, now: float, key: TopicKey, durable: bool) -> None:
        flight = self._flights.pop(key, None)
        if flight is None:
            return
        self._probe_succeeded()
        if durable:
            self._waits.release(key, flight.covers)
            self._failures.pop(key, None)
        else:
            self._rewind(key)
        self._after_flight(key, now)

    def _failed(self, now: float, key: TopicKey, cause: str) -> None:
        flight = self._flights.pop(key, None)
        if flight is None:
            return
        attempts = self._failures.get(key, (0, ""))[0] + 1
        self._failures[key] = (attempts, cause)
        if attempts < self.config.extract_attempts:
            self._retry(key, now + backoff(attempts))
            return
        if not self._waits.waiting(key):
            self._after_flight(key, now)
            return
        # Recorded now, against the input persisted so far; the previous cards stay.
        self._flights[key] = _Flight(self._waits.close(key), recording_failure=True)
        self._out.append(RecordFailure(key, cause, attempts))

    def _retry(self, key: TopicKey, when: float) -> None:
        if self._waits.waiting(key):
            self._schedule.retry_at(key, when)
        self._after_flight(key, when)

    def _after_flight(self, key: TopicKey, now: float) -> None:
        if key in self._flights:
            return
        if not self._waits.waiting(key):
            self._drop_topic(key)
            return
        if key in self._deferred:
            self._deferred.discard(key)
            self._schedule.reschedule(key, now)
        if key not in self._schedule:
            self._schedule.touch(key, now)  # every pending topic stays scheduled

    def _drop_topic(self, key: TopicKey) -> None:
        self._waits.forget(key)
        self._schedule.drop({key})
        self._deferred.discard(key)
        self._failures.pop(key, None)

    def _rewind(self, key: TopicKey) -> None:
        """The topic's row is gone although this member persisted its events: the database lost
        writes. Its partitions are read again from their safe offsets, and re-persisting
        recreates the row; releasing it would commit offsets past events not durable."""
        partitions = self._waits.partitions_of(key)
        safe = self._waits.safe_offsets()
        self._discard(partitions)
        for partition in sorted(partitions):
            offset = safe.get(partition, self._committed.get(partition))
            if offset is not None:
                self._out.append(Seek(partition, offset))
                self._catchup.rewound(partition, offset)
        self._drop_topic(key)

    # --- partitions ------------------------------------------------------------------------------

    def _forget(self, partitions: frozenset[Partition]) -> None:
        self._discard(set(partitions))
        for partition in partitions:
            self._committed.pop(partition, None)
            self._catchup.forget(partition)
        self._assigned -= partitions
        self._paused -= partitions

    def _discard(self, partitions: set[Partition]) -> None:
        """Drop what the core holds of ``partitions``: their watermarks, the topics that waited
        only there, their held records, and (by epoch) answers about records read before."""
        for partition in partitions:
            self._epoch[partition] = self._epoch.get(partition, 0) + 1
        for key in self._waits.drop(partitions):
            if key not in self._flights:  # one in flight is settled when it ends
                self._drop_topic(key)
        self._held = [(p, b) for p, b in self._held if p.partition not in partitions]

    def _commit(self, synchronous: bool, only: frozenset[Partition] | None = None) -> None:
        """Commit safe offsets; an asynchronous commit skips partitions already committed there,
        a synchronous one (revoke, shutdown) commits them all again in case one was lost."""
        offsets = tuple(
            (partition, offset)
            for partition, offset in sorted(self.safe_offsets().items())
            if (only is None or partition in only)
            and (synchronous or self._committed.get(partition) != offset)
        )
        if offsets:
            self._committed.update(offsets)
            self._out.append(CommitOffsets(offsets, synchronous))

    # --- outages and backpressure ----------------------------------------------------------------

    def _outage_begins(self, cause: Outage) -> None:
        kind: Literal["down", "misconfigured"] = (
            "down" if isinstance(cause, DatabaseDown) else "misconfigured"
        )
        outage = self._outage
        if outage is not None and outage.kind == kind and not outage.probing:
            outage.error = cause.error  # known already (another operation it stopped)
            return
        attempts = outage.attempts + 1 if outage is not None and outage.kind == kind else 1
        cap = DOWN_PROBE_CAP_S if kind == "down" else BACKOFF_CAP_S
        self._outage = _Outage(kind, cause.error, attempts, cause.now + backoff(attempts, cap))

    def _probe_succeeded(self) -> None:
        """Work went through: a misconfiguration being probed with it is fixed."""
        outage = self._outage
        if outage is not None and outage.kind == "misconfigured" and outage.probing:
            self._outage = None

    def _reconcile_pause(self) -> None:
        config = self.config
        pending, held = len(self._waits), self.held_count()
        if pending >= config.max_pending or held >= config.max_held:
            self._backpressure = True
        elif (
            pending <= config.max_pending * config.low_water
            and held <= config.max_held * config.low_water
        ):
            self._backpressure = False
        wanted = self._assigned if (self._outage is not None or self._backpressure) else set()
        pause = frozenset((wanted - self._paused) | (wanted & self._unsure))
        resume = frozenset((self._paused - wanted) | (self._unsure & self._assigned) - wanted)
        self._unsure.clear()
        if pause:
            self._out.append(Pause(pause))
        if resume:
            self._out.append(Resume(resume))
        self._paused = set(wanted)
