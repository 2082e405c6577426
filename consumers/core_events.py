"""The vocabulary of a member's core: the events it is fed and the commands it returns.

The shell (consumers/worker.py) turns what happens outside (a poll, a finished transaction, a
rebalance callback, the clock) into these events, feeds them to ``MemberCore.step``
(consumers/core.py), and carries out the commands it gets back against Kafka and PostgreSQL.
Every ``now`` arrives in an event: the core never reads a clock. Records are opaque to the core
(``R``: a confluent-kafka ``Message`` in the shell, anything in tests); it sees only where they
sit in the log.

An operation the core starts (``Persist``, ``Extract``, ``RecordFailure``, ``Probe``) ends with
exactly one event naming it: done, failed, or aborted by an outage (which the aborted event
carries, so one happening is one event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from cardwright.schema.cards import (
    TopicKey as TopicKey,  # re-exported: the shell and tests name it ev.TopicKey
)

R = TypeVar("R")

Partition = tuple[str, int]  # (Kafka topic, partition)


# --- what the core is told ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Polled(Generic[R]):
    """One record as the consumer returned it: where it sits, and the record itself."""

    partition: Partition
    offset: int
    record: R


@dataclass(frozen=True, slots=True)
class Handled:
    """One record of a persisted batch: its effect is durable once ``waits_on`` (the topic whose
    cards must be derived again) is extracted, or now when ``waits_on`` is None (dead-lettered
    and acknowledged, or a topic whose cards already come from its stored input)."""

    partition: Partition
    offset: int
    waits_on: TopicKey | None


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed; the core starts what is due (extractions, retries, probes)."""

    now: float


@dataclass(frozen=True, slots=True)
class CommitPoint:
    """A moment to commit what is safe (asynchronously, what changed since the last commit).
    Separate from ``Tick`` so an inline shell commits after the work a Tick started is done."""

    now: float


@dataclass(frozen=True, slots=True)
class RecordsPolled(Generic[R]):
    now: float
    records: tuple[Polled[R], ...]


@dataclass(frozen=True, slots=True)
class PartitionEnd:
    """The log end (high watermark) of a partition, as the consumer last saw it."""

    now: float
    partition: Partition
    high: int


@dataclass(frozen=True, slots=True)
class Assigned:
    now: float
    partitions: frozenset[Partition]


@dataclass(frozen=True, slots=True)
class Revoked:
    """Partitions handed back in a rebalance; the core commits them once more, then forgets."""

    now: float
    partitions: frozenset[Partition]


@dataclass(frozen=True, slots=True)
class Lost:
    """Partitions another member may own already: forgotten without a commit."""

    now: float
    partitions: frozenset[Partition]


@dataclass(frozen=True, slots=True)
class Stopping:
    """The member is shutting down: a last synchronous commit of everything safe."""

    now: float


@dataclass(frozen=True, slots=True)
class DatabaseDown:
    """PostgreSQL (or the DLQ producer, which persisting needs too) is unreachable."""

    now: float
    error: str


@dataclass(frozen=True, slots=True)
class DatabaseMisconfigured:
    """PostgreSQL answers but refuses cardwright as configured; ``error`` names the fix."""

    now: float
    error: str


@dataclass(frozen=True, slots=True)
class DatabaseUp:
    """The answer to ``Probe``: PostgreSQL answers again."""

    now: float


Outage = DatabaseDown | DatabaseMisconfigured


@dataclass(frozen=True, slots=True)
class BatchPersisted:
    """The answer to ``Persist``: every record of the batch, persisted or dead-lettered."""

    now: float
    handled: tuple[Handled, ...]


@dataclass(frozen=True, slots=True)
class PersistAborted:
    """The answer to ``Persist`` when nothing of it is known to be done; it is retried whole
    (persisting is idempotent, and the DLQ skips copies already acknowledged)."""

    now: float
    cause: Outage


@dataclass(frozen=True, slots=True)
class ExtractionFinished:
    """The answer to ``Extract``: the replace transaction committed (or found the cards current,
    or fenced by newer ones: ``durable``), or found no topic row although this member persisted
    its events (not ``durable``: the database lost them; docs/design.md, "Flow")."""

    now: float
    key: TopicKey
    durable: bool


@dataclass(frozen=True, slots=True)
class ExtractionFailed:
    """The extractor raised, returned something invalid, or its output was refused."""

    now: float
    key: TopicKey
    cause: str


@dataclass(frozen=True, slots=True)
class ExtractionTimedOut:
    """The extractor overran its timeout; its slot is free again (counts as a failure)."""

    now: float
    key: TopicKey
    cause: str


@dataclass(frozen=True, slots=True)
class ExtractionContended:
    """The replace lost a race (deadlock, lock timeout): this topic alone tries again soon."""

    now: float
    key: TopicKey


@dataclass(frozen=True, slots=True)
class ExtractionDeferred:
    """The extraction was not started (the member's token budget is spent): the topic waits
    until ``until``, and no attempt is counted (docs/llm.md, "Budget")."""

    now: float
    key: TopicKey
    until: float


@dataclass(frozen=True, slots=True)
class ExtractionAborted:
    """The answer to ``Extract`` or ``RecordFailure`` when an outage stopped it."""

    now: float
    key: TopicKey
    cause: Outage


@dataclass(frozen=True, slots=True)
class FailureRecorded:
    """The answer to ``RecordFailure``; not ``durable`` when the topic row was gone."""

    now: float
    key: TopicKey
    durable: bool


@dataclass(frozen=True, slots=True)
class CommitFailed:
    """A commit the core asked for did not go through; it is asked for again."""

    now: float
    partitions: frozenset[Partition]


Event = (
    Tick
    | CommitPoint
    | RecordsPolled[R]
    | PartitionEnd
    | Assigned
    | Revoked
    | Lost
    | Stopping
    | DatabaseDown
    | DatabaseMisconfigured
    | DatabaseUp
    | BatchPersisted
    | PersistAborted
    | ExtractionFinished
    | ExtractionFailed
    | ExtractionTimedOut
    | ExtractionContended
    | ExtractionDeferred
    | ExtractionAborted
    | FailureRecorded
    | CommitFailed
)


# --- what the core asks for ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Persist(Generic[R]):
    """Parse, persist in one transaction, dead-letter what is bad; answer ``BatchPersisted``."""

    records: tuple[Polled[R], ...]


@dataclass(frozen=True, slots=True)
class Extract:
    """Bring one topic's cards up to its stored input (read after this command is issued)."""

    key: TopicKey


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """Record that extraction of ``key`` failed ``attempts`` times; previous cards stay."""

    key: TopicKey
    cause: str
    attempts: int


@dataclass(frozen=True, slots=True)
class CommitOffsets:
    """Offsets ("next to read") whose records' effects are all durable."""

    offsets: tuple[tuple[Partition, int], ...]
    synchronous: bool


@dataclass(frozen=True, slots=True)
class Pause:
    partitions: frozenset[Partition]


@dataclass(frozen=True, slots=True)
class Resume:
    partitions: frozenset[Partition]


@dataclass(frozen=True, slots=True)
class Seek:
    """Read ``partition`` again from ``offset``: records after it were dropped, not done."""

    partition: Partition
    offset: int


@dataclass(frozen=True, slots=True)
class Probe:
    """Ask whether PostgreSQL answers; answer ``DatabaseUp`` or ``DatabaseDown``."""


@dataclass(frozen=True, slots=True)
class ResetConnections:
    """Drop pooled connections: one keeps the session defaults it began with (read-only)."""


Command = (
    Persist[R]
    | Extract
    | RecordFailure
    | CommitOffsets
    | Pause
    | Resume
    | Seek
    | Probe
    | ResetConnections
)
