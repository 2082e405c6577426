"""The seeded fault schedule: which fault, when, with which parameters. Pure.

Every kind appears once, in a seeded order, then random kinds fill the rest of the run. Faults
run one after another (``tests.chaos.injector`` carries them out); ``at_s`` is the earliest start,
and a fault that is still running delays the next one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tests.member_role import REVOCABLE

FAILPOINTS = (
    "after_batch_commit",
    "replace_after_delete",
    "after_db_commit_before_offset_commit",
    "in_on_revoke",
)
KINDS = (
    "sigkill",  # a random worker dies with SIGKILL and is restarted after a pause
    *(f"failpoint:{name}" for name in FAILPOINTS),  # a worker armed to die at that point
    "zombie",  # SIGSTOP past the session timeout, partitions move, then SIGCONT
    "zombie_in_replace",  # frozen inside the replace transaction (holding the topic lock)
    "scale_up",  # one more worker joins: a rebalance while topics are debouncing
    "scale_down",  # one worker leaves cleanly
    "broker_restart",  # Kafka stopped (cleanly or with SIGKILL) and started again
    "postgres_restart",  # PostgreSQL stopped (fast mode) and started again
    "pg_terminate",  # consumer connections killed with pg_terminate_backend, mid-transaction
    # Configuration faults (docs/design.md, "Failures: four classes"): nothing dead-lettered, no
    # offset past unstored work; the members pause, retry with fresh connections, and resume.
    "read_only",  # the database read-only for new sessions (a standby after a failover)
    "revoked_permission",  # one privilege the member role needs revoked, then granted back
    # An operator's commands, run as docs/operations.md says, mid-run:
    "replay",  # the group stopped, its offsets moved back (`cardwright replay`), started again
    "reextract",  # `cardwright reextract --since` while the group runs
)
# Run only when asked for (--kinds). Faults of a Kafka cluster (`run --brokers 3`;
# tests.chaos.brokers): the leader of a partition of the events topic, or the group's
# coordinator, killed (SIGKILL, restarted after a pause) or frozen (SIGSTOP past the broker
# session, then SIGCONT); every broker restarted in turn; the active KRaft controller restarted
# so another takes over.
CLUSTER_KINDS = (
    "leader_kill",
    "leader_stop",
    "coordinator_kill",
    "coordinator_stop",
    "rolling_restart",
    "controller_change",
)
# The events topic grows from P to 2P partitions mid-run (docs/operations.md, "Adding
# partitions"): topics move to new partitions while their old events may be unprocessed.
GROWTH_KINDS = ("add_partitions",)
OPTIONAL_KINDS = (*CLUSTER_KINDS, *GROWTH_KINDS)
# A killed broker stays down this long before it starts again; a frozen one past its 9 s session.
BROKER_DOWN_S = (2.0, 6.0)
BROKER_HOLD_S = (11.0, 15.0)
# Read-only (or without a privilege) long enough for every member to meet it, short enough to
# leave time to converge.
READ_ONLY_HOLD_S = (4.0, 8.0)
# Seconds each kind takes on a busy two-core machine, to space the schedule. An armed worker
# must start, join the group and reach its failpoint; a zombie sleeps past the 10 s session
# timeout; a frozen-in-replace worker must first reach a replace; a broker restart is a JVM start.
COST_S = {
    "sigkill": 1.0,
    "zombie": 14.0,
    "zombie_in_replace": 26.0,
    "scale_up": 1.0,
    "scale_down": 1.0,
    "broker_restart": 15.0,
    "postgres_restart": 2.0,
    "pg_terminate": 1.0,
    "read_only": 8.0,
    "revoked_permission": 8.0,
    "replay": 15.0,
    "reextract": 10.0,
    # A broker start is a JVM start plus catching up; a rolling restart is three of them.
    "leader_kill": 20.0,
    "leader_stop": 20.0,
    "coordinator_kill": 20.0,
    "coordinator_stop": 20.0,
    "rolling_restart": 50.0,
    "controller_change": 18.0,
    "add_partitions": 2.0,
} | {f"failpoint:{name}": 10.0 for name in FAILPOINTS}
# After the first round, cheap faults come more often than slow ones.
REPEAT_WEIGHTS = {kind: 1.0 / max(1.0, COST_S[kind]) ** 0.5 for kind in (*KINDS, *OPTIONAL_KINDS)}
# `cardwright reextract --since` this many seconds before it runs: topics mid-debounce, just
# replaced, or quiet for a while.
REEXTRACT_SINCE_S = (2.0, 40.0)
FIRST_FAULT_S = (4.0, 8.0)  # let the group form and the first topics debounce
GAP_S = (1.0, 3.0)
# A worker past the session timeout (10 s, cardwright.wiring) has lost its partitions.
ZOMBIE_HOLD_S = (13.0, 16.0)


@dataclass(frozen=True, slots=True)
class Fault:
    at_s: float
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def schedule(seed: int, duration_s: float, kinds: tuple[str, ...] = KINDS) -> list[Fault]:
    """Every kind once in a seeded order, then random ones until ``duration_s`` is used."""
    unknown = set(kinds) - set(KINDS) - set(OPTIONAL_KINDS)
    if unknown:
        known = [*KINDS, *OPTIONAL_KINDS]
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {known}")
    rng = random.Random(f"faults-{seed}")
    first = list(kinds)
    rng.shuffle(first)
    faults: list[Fault] = []
    t = rng.uniform(*FIRST_FAULT_S)
    while True:
        if first:
            kind = first.pop(0)
        else:
            weights = [REPEAT_WEIGHTS[k] for k in kinds]
            kind = rng.choices(list(kinds), weights=weights)[0]
            if t + COST_S[kind] > duration_s:
                break
        faults.append(Fault(round(t, 2), kind, _params(rng, kind)))
        t += COST_S[kind] + rng.uniform(*GAP_S)
    return faults


def _params(rng: random.Random, kind: str) -> dict[str, Any]:
    # "pick" chooses among the workers alive when the fault starts, by position.
    params: dict[str, Any] = {"pick": round(rng.random(), 4)}
    if kind.startswith("failpoint:"):
        name = kind.split(":", 1)[1]
        # Hits before firing: an extra worker owns one or two partitions, whose batches and
        # replaces come in bursts; extraction passes (one per loop turn, up to five a second)
        # come steadily; a revoke is rare, so the first one.
        params["nth"] = {
            "after_batch_commit": rng.randint(1, 2),
            "replace_after_delete": rng.randint(1, 2),
            "after_db_commit_before_offset_commit": rng.randint(5, 30),
            "in_on_revoke": 1,
        }[name]
    elif kind in ("zombie", "zombie_in_replace"):
        params["hold_s"] = round(rng.uniform(*ZOMBIE_HOLD_S), 2)
    elif kind == "broker_restart":
        params["hard"] = rng.random() < 0.5
    elif kind == "sigkill":
        params["respawn_s"] = round(rng.uniform(0.5, 4.0), 2)
    elif kind in ("read_only", "revoked_permission"):
        params["hold_s"] = round(rng.uniform(*READ_ONLY_HOLD_S), 2)
        if kind == "revoked_permission":
            params["privilege"] = list(rng.choice(REVOCABLE))
    elif kind == "replay":
        # Backwards only: records the group has not committed yet are never skipped.
        params["mode"] = rng.choice(("earliest", "shift"))
        params["shift_by"] = -rng.randint(10, 400)
    elif kind == "reextract":
        params["since_s"] = round(rng.uniform(*REEXTRACT_SINCE_S), 1)
    elif kind in ("leader_kill", "coordinator_kill"):
        params["down_s"] = round(rng.uniform(*BROKER_DOWN_S), 2)
    elif kind in ("leader_stop", "coordinator_stop"):
        params["hold_s"] = round(rng.uniform(*BROKER_HOLD_S), 2)
    return params


def estimated_end(faults: list[Fault]) -> float:
    """When the last fault should be over, if each takes its usual time."""
    return max((f.at_s + COST_S[f.kind] for f in faults), default=0.0)


def count_by_kind(faults: list[Fault]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for fault in faults:
        counts[fault.kind] = counts.get(fault.kind, 0) + 1
    return dict(sorted(counts.items()))
