"""A fake world for the member core: a log, a broker's offsets, and a model of durability.

``World`` plays the shell: it feeds events to a ``MemberCore``, carries out the commands that
take effect at once (commit, pause, resume, seek), and keeps the ones that take time (persist,
extract, record a failure, probe) outstanding until a test completes them, in any order and
with any outcome. While doing so it checks the core's rules on every command:

- no committed offset passes a record whose effect is not durable, as modelled here from the
  events fed (dead-lettered; or persisted, then covered by a durable extraction or failure
  record of its topic issued after it was persisted; a missing topic row loses what was
  persisted of the topic and not yet covered);
- a topic is never extracted (or its failure recorded) twice at once, one Persist at a time;
- the memory bounds hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cardwright.consumers.core import CoreConfig, MemberCore
from cardwright.consumers.core_events import (
    Assigned,
    BatchPersisted,
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
    Partition,
    PartitionEnd,
    Pause,
    Persist,
    PersistAborted,
    Polled,
    Probe,
    RecordFailure,
    RecordsPolled,
    ResetConnections,
    Resume,
    Revoked,
    Seek,
    Tick,
    TopicKey,
)

TOPIC = "events"


@dataclass(frozen=True, slots=True)
class Rec:
    key: TopicKey
    dead: bool = False  # unparseable: dead-lettered when persisted


@dataclass(slots=True)
class Op:
    kind: str  # "extract" or "record"
    issued: int  # the step that issued it


EXTRACT_OUTCOMES = (
    "new",
    "stale",
    "missing",
    "failed",
    "timeout",
    "contended",
    "deferred",
    "aborted_down",
    "aborted_misconfigured",
)
PERSIST_OUTCOMES = ("ok", "down", "misconfigured")
# How long a "deferred" extraction waits (a spent token budget): longer than any backoff.
DEFERRAL_S = 60.0


@dataclass
class World:
    config: CoreConfig
    partitions: int = 3
    core: MemberCore[Rec] = field(init=False)
    log: dict[Partition, list[Rec]] = field(init=False)
    now: float = 0.0
    step_no: int = 0
    committed: dict[Partition, int] = field(default_factory=dict)
    previous_commit: dict[Partition, int] = field(default_factory=dict)
    position: dict[Partition, int] = field(default_factory=dict)
    paused: set[Partition] = field(default_factory=set)
    persist: tuple[Polled[Rec], ...] | None = None
    ops: dict[TopicKey, Op] = field(default_factory=dict)
    probing: bool = False
    # The durability model, per record (partition, offset).
    durable: set[tuple[Partition, int]] = field(default_factory=set)
    persisted: dict[tuple[Partition, int], tuple[TopicKey, int]] = field(default_factory=dict)
    extracts: int = 0
    failures_recorded: int = 0
    issued: list[object] = field(default_factory=list)  # every command, in order
    commits: list[CommitOffsets] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.core = MemberCore(self.config)
        self.log = {(TOPIC, n): [] for n in range(self.partitions)}

    # --- the broker side ---------------------------------------------------------------------

    def produce(self, partition: int, key: TopicKey, dead: bool = False) -> None:
        self.log[(TOPIC, partition)].append(Rec(key, dead))

    def assign(self, partitions: set[Partition]) -> None:
        new = partitions - self.core.assigned()
        for partition in new:
            self.position[partition] = self.committed.get(partition, 0)
        if new:
            self.feed(Assigned(self.now, frozenset(new)))

    def revoke(self, partitions: set[Partition], lost: bool = False) -> None:
        owned = partitions & self.core.assigned()
        if not owned:
            return
        event = Lost if lost else Revoked
        self.feed(event(self.now, frozenset(owned)))
        for partition in owned:
            self.position.pop(partition, None)
            # As librdkafka does: a partition's pause flag survives its revoke, and holds if
            # the same member is given the partition again (chaos seed 1 found a member that
            # never read a partition again that way).

    def poll(self, per_partition: int, leak: bool = False) -> None:
        """Records from each assigned partition (paused ones too with ``leak``: a poll that
        was under way when the pause was asked for)."""
        records: list[Polled[Rec]] = []
        for partition in sorted(self.core.assigned()):
            if partition in self.paused and not leak:
                continue
            start = self.position[partition]
            chunk = self.log[partition][start : start + per_partition]
            records.extend(Polled(partition, start + i, rec) for i, rec in enumerate(chunk))
            self.position[partition] = start + len(chunk)
        self.feed(RecordsPolled(self.now, tuple(records)))

    def report_ends(self) -> None:
        for partition in sorted(self.core.assigned()):
            self.feed(PartitionEnd(self.now, partition, len(self.log[partition])))

    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.feed(Tick(self.now))
        self.feed(CommitPoint(self.now))

    def fail_commits(self) -> None:
        partitions = self.core.assigned() & set(self.previous_commit)
        for partition in partitions:
            self.committed[partition] = self.previous_commit.pop(partition)
        if partitions:
            self.feed(CommitFailed(self.now, frozenset(partitions)))

    # --- completing operations ---------------------------------------------------------------

    def complete_persist(self, outcome: str) -> None:
        batch, self.persist = self.persist, None
        assert batch is not None
        if outcome == "down":
            self.feed(PersistAborted(self.now, DatabaseDown(self.now, "connection refused")))
            return
        if outcome == "misconfigured":
            self.feed(PersistAborted(self.now, DatabaseMisconfigured(self.now, "read-only")))
            return
        handled = []
        for polled in batch:
            where = (polled.partition, polled.offset)
            if polled.record.dead:
                self.durable.add(where)
                handled.append(Handled(polled.partition, polled.offset, None))
                continue
            if where not in self.durable:
                self.persisted[where] = (polled.record.key, self.step_no + 1)
            handled.append(Handled(polled.partition, polled.offset, polled.record.key))
        self.feed(BatchPersisted(self.now, tuple(handled)))

    def complete_op(self, key: TopicKey, outcome: str) -> None:
        op = self.ops.pop(key)
        if op.kind == "record":
            outcome = {"new": "new", "stale": "new", "missing": "missing"}.get(outcome, outcome)
            if outcome in ("failed", "timeout", "contended", "deferred"):
                outcome = "new"  # recording a failure cannot fail but by an outage
        event: Event[Rec]
        if outcome in ("new", "stale", "missing"):
            durable = outcome != "missing"
            self._model_extracted(key, op.issued, durable)
            cls = ExtractionFinished if op.kind == "extract" else FailureRecorded
            event = cls(self.now, key, durable)
        elif outcome == "failed":
            event = ExtractionFailed(self.now, key, "extractor raised")
        elif outcome == "timeout":
            event = ExtractionTimedOut(self.now, key, "timed out")
        elif outcome == "contended":
            event = ExtractionContended(self.now, key)
        elif outcome == "deferred":  # the token budget is spent for the next minute
            event = ExtractionDeferred(self.now, key, self.now + DEFERRAL_S)
        elif outcome == "aborted_down":
            event = ExtractionAborted(self.now, key, DatabaseDown(self.now, "gone"))
        else:
            event = ExtractionAborted(self.now, key, DatabaseMisconfigured(self.now, "read-only"))
        self.feed(event)

    def extracted(self) -> list[TopicKey]:
        """Topics extracted so far, in order (a topic as often as it was)."""
        return [c.key for c in self.issued if isinstance(c, Extract)]

    def complete_probe(self, up: bool) -> None:
        self.probing = False
        self.feed(DatabaseUp(self.now) if up else DatabaseDown(self.now, "still down"))

    def _model_extracted(self, key: TopicKey, issued: int, durable: bool) -> None:
        for where, (waits_on, at) in list(self.persisted.items()):
            if waits_on != key:
                continue
            if not durable:
                del self.persisted[where]  # the database lost the topic's rows
            elif at <= issued:
                self.durable.add(where)
                del self.persisted[where]

    # --- feeding the core and checking what it asks --------------------------------------------

    def feed(self, event: Event[Rec]) -> None:
        self.step_no += 1
        for command in self.core.step(event):
            self._carry_out(command)
        self.check_bounds()

    def _carry_out(self, command: object) -> None:
        self.issued.append(command)
        match command:
            case Persist(records):
                assert self.persist is None, "a second Persist while one is under way"
                self.persist = records
            case Extract(key) | RecordFailure(key, _, _):
                assert key not in self.ops, f"{key} started while its last run is under way"
                kind = "extract" if isinstance(command, Extract) else "record"
                self.ops[key] = Op(kind, self.step_no)
                self.extracts += isinstance(command, Extract)
                self.failures_recorded += isinstance(command, RecordFailure)
            case CommitOffsets(offsets, _):
                self.commits.append(command)
                for partition, offset in offsets:
                    self._check_durable_below(partition, offset)
                    if partition in self.committed:
                        self.previous_commit[partition] = self.committed[partition]
                    self.committed[partition] = offset
            case Pause(partitions):
                self.paused |= partitions
            case Resume(partitions):
                self.paused -= partitions
            case Seek(partition, offset):
                self.position[partition] = offset
            case Probe():
                assert not self.probing, "a second Probe while one is under way"
                self.probing = True
            case ResetConnections():
                pass
            case _:
                raise AssertionError(f"unknown command {command!r}")

    def _check_durable_below(self, partition: Partition, offset: int) -> None:
        missing = [o for o in range(offset) if (partition, o) not in self.durable]
        assert not missing, f"commit {partition}@{offset} passes offsets {missing} not durable"

    def check_bounds(self) -> None:
        config = self.config
        assert self.core.held_count() <= config.max_held
        assert len(self.core.in_flight()) <= config.max_in_flight
        assert self.core.pending_count() <= config.max_pending + config.batch_size
        assert self.core.in_flight() == set(self.ops)
        if self.core.outage() is not None:
            assert self.paused >= self.core.assigned(), "an outage leaves a partition unpaused"

    # --- the end: everything outstanding goes well until nothing is left ------------------------

    def settled(self) -> bool:
        return (
            self.core.quiescent()
            and self.persist is None
            and not self.ops
            and all(
                self.committed.get(p, 0) == len(self.log[p]) == self.position[p]
                for p in self.core.assigned()
            )
        )

    def drain(self, poison: set[TopicKey], rounds: int = 400) -> None:
        """Let the database and extractor work (but for ``poison`` topics, which always fail)
        until every record is committed; fails if that does not happen."""
        if not self.core.assigned():
            self.assign(set(self.log))
        for _ in range(rounds):
            if self.settled():
                return
            if self.probing:
                self.complete_probe(up=True)
            if self.persist is not None:
                self.complete_persist("ok")
            for key in sorted(self.ops):
                if key in self.ops:
                    self.complete_op(key, "failed" if key in poison else "new")
            self.poll(self.config.batch_size)
            self.report_ends()
            self.tick(31.0)  # past every debounce, maximum delay and backoff
        raise AssertionError(
            f"not settled after {rounds} rounds: pending={self.core.pending_count()} "
            f"held={self.core.held_count()} in_flight={self.core.in_flight()} "
            f"outage={self.core.outage()} committed={self.committed} "
            f"ends={ {p: len(r) for p, r in self.log.items()} }"
        )
