"""What a member tells its observers (metrics, health, the audit log, benchmarks, checkers).

The shell (consumers/worker.py) reports each of these, typed, on its own thread, to one
``Observer`` callable (``fan_out`` makes several into one). Observers match on the type; the
audit log writes ``name`` and the fields, so its JSON lines keep their event names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

# (topic, partition, offset, user_id, topic_id, message_id, revision) of one applied event.
Applied = tuple[str, int, int, str, str, str, int]


@dataclass(frozen=True, slots=True)
class Turn:
    """One loop turn began (a poll follows); ``pending`` topics wait for their cards."""

    name: ClassVar[str] = "turn"
    pending: int


@dataclass(frozen=True, slots=True)
class BatchPersisted:
    """A batch of records was persisted in one transaction."""

    name: ClassVar[str] = "batch"
    size: int
    changed: int  # message rows that changed
    dead_reasons: tuple[str, ...]  # one per record sent to the DLQ
    applied: tuple[Applied, ...]
    # Topics of the batch whose cards already come from their stored input with this
    # extractor (a replay, a duplicate): a no-op without extraction.
    current: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A topic's extraction ended: ``outcome`` is a storage Outcome value, or ``failed`` when
    its failure was recorded after the last attempt."""

    name: ClassVar[str] = "run"
    user_id: str
    topic_id: str
    outcome: str
    state_version: int | None = None
    extract_s: float | None = None
    replace_s: float | None = None


@dataclass(frozen=True, slots=True)
class Rewound:
    """A topic's row was missing although its events were persisted: its partitions are read
    again from their safe offsets."""

    name: ClassVar[str] = "rewound"
    user_id: str
    topic_id: str


@dataclass(frozen=True, slots=True)
class Committed:
    name: ClassVar[str] = "commit"
    topic: str
    offsets: dict[int, int]  # partition -> next offset to read


@dataclass(frozen=True, slots=True)
class CommitRefused:
    name: ClassVar[str] = "commit_failed"
    error: str


@dataclass(frozen=True, slots=True)
class PartitionsAssigned:
    name: ClassVar[str] = "assigned"
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PartitionsRevoked:
    name: ClassVar[str] = "revoked"
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PartitionsLost:
    name: ClassVar[str] = "lost"
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DatabaseUnavailable:
    """The database stopped answering: partitions are paused until it does."""

    name: ClassVar[str] = "unavailable"
    error: str


@dataclass(frozen=True, slots=True)
class DatabaseAvailable:
    name: ClassVar[str] = "available"


@dataclass(frozen=True, slots=True)
class DatabaseMisconfigured:
    """The database answers but refuses us as configured (read-only, a missing privilege):
    partitions are paused until it is fixed; ``error`` names the fix."""

    name: ClassVar[str] = "misconfigured"
    error: str
    sqlstate: str | None


@dataclass(frozen=True, slots=True)
class DatabaseConfigured:
    name: ClassVar[str] = "configured"


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """Calls and tokens a model-backed extractor spent on one extraction, by its outcome."""

    name: ClassVar[str] = "usage"
    model: str
    outcome: str
    calls: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class BudgetSpent:
    """The member's token budget is spent: topics wait ``wait_s`` for it (consumers/budget.py)."""

    name: ClassVar[str] = "budget_spent"
    wait_s: float
    error: str


@dataclass(frozen=True, slots=True)
class BudgetAvailable:
    name: ClassVar[str] = "budget_available"


Observation = (
    Turn
    | BatchPersisted
    | RunFinished
    | Rewound
    | Committed
    | CommitRefused
    | PartitionsAssigned
    | PartitionsRevoked
    | PartitionsLost
    | DatabaseUnavailable
    | DatabaseAvailable
    | DatabaseMisconfigured
    | DatabaseConfigured
    | ModelUsage
    | BudgetSpent
    | BudgetAvailable
)
Observer = Callable[[Observation], None]


def fields(observation: Observation) -> dict[str, Any]:
    """The observation's fields by name (tuples as lists), for JSON lines."""
    return {
        field.name: _plain(getattr(observation, field.name))
        for field in dataclasses.fields(observation)
    }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def fan_out(*observers: Observer | None) -> Observer:
    """One observer that calls each given observer in turn."""
    chosen = [o for o in observers if o is not None]

    def observe(observation: Observation) -> None:
        for observer in chosen:
            observer(observation)

    return observe
