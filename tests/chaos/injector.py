"""Carrying out the fault schedule against a running group, one fault after another.

Each fault is recorded with when it ran and what it did; a failpoint fault also says whether the
armed worker really died there (``fired``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.chaos.brokers import BrokerFaults
from tests.chaos.cluster import Cluster, WorkerProc
from tests.chaos.faults import CLUSTER_KINDS, GROWTH_KINDS, Fault
from tests.chaos.history import read_jsonl
from tests.chaos.stack import ChaosStack

# How long an armed worker gets to reach its failpoint before it is asked to leave: it must start
# (14-19 s measured on a loaded 2-core machine with a hanging extractor's restarts), join the
# group, receive records and finish a few batches or replaces.
FIRE_WAIT_S = 40.0
# The partitions an extra worker gets may see no traffic for a while: arm another one.
FAILPOINT_ATTEMPTS = 3
# A worker armed in on_revoke first works for a while, then is stopped: leaving revokes its
# partitions, which reaches the failpoint even when no rebalance took any from it.
REVOKE_AFTER_S = 3.0
# A worker armed to freeze inside the replace transaction needs a replace with cards to delete.
FREEZE_WAIT_S = 20.0
# After waking, a frozen worker finishes its transaction and finds its partitions gone.
AFTER_THAW_S = 3.0
EXIT_WAIT_S = 40.0
# Faults that need a worker to replace cards.
REPLACING = frozenset({"zombie_in_replace", "failpoint:replace_after_delete"})
# An operator's command (replay, reextract) takes seconds; past this it hangs.
COMMAND_TIMEOUT_S = 120.0
# A member killed before the replay stays in the group until its 10 s session timeout; the
# replay is refused while the group is not empty, so the operator tries again.
GROUP_EMPTY_WAIT_S = 40.0
SERVICE_KINDS = frozenset(
    {
        "broker_restart",
        "postgres_restart",
        "pg_terminate",
        "read_only",
        "revoked_permission",
        "replay",
        "reextract",
    }
)
# Below this many running workers a scale-down is skipped, so the group keeps making progress.
MIN_WORKERS = 2


@dataclass(slots=True)
class FaultRecord:
    kind: str
    params: dict[str, Any]
    start_m: float
    end_m: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def fired(self) -> bool:
        return bool(self.result.get("fired", not self.result.get("skipped")))


class Injector:
    def __init__(self, clusters: list[Cluster], stack: ChaosStack, database: str) -> None:
        self.clusters = clusters  # one per consumer group
        self.cluster = clusters[0]  # the one the current fault hits
        self.stack = stack
        self.database = database
        self.records: list[FaultRecord] = []
        self.errors: list[str] = []
        self.on_fault: Callable[[FaultRecord], None] | None = None
        # Set for a cluster run (tests.chaos.brokers) and for add_partitions.
        self.brokers: BrokerFaults | None = None
        self.topic = ""
        self.partitions = 0
        self._thread: threading.Thread | None = None

    def start(self, faults: list[Fault], t0: float) -> None:
        self._thread = threading.Thread(
            target=self.run, args=(faults, t0), name="chaos-faults", daemon=True
        )
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run(self, faults: list[Fault], t0: float) -> None:
        for fault in faults:
            delay = t0 + fault.at_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.inject(fault)

    def inject(self, fault: Fault) -> FaultRecord:
        record = FaultRecord(fault.kind, dict(fault.params), time.monotonic())
        try:
            record.result = self._do(fault)
        except Exception as exc:  # a fault that could not be carried out breaks the run
            record.result = {"error": f"{type(exc).__name__}: {exc}", "fired": False}
            self.errors.append(f"{fault.kind}: {traceback.format_exc()}")
            self.stack.ensure_up()  # a service left down would fail every later check
        record.end_m = time.monotonic()
        self.records.append(record)
        if self.on_fault is not None:
            self.on_fault(record)
        return record

    def _do(self, fault: Fault) -> dict[str, Any]:
        kind, params = fault.kind, dict(fault.params)
        # "pick" chooses the group, and what is left of it the worker within the group.
        scaled = float(params["pick"]) * len(self.clusters)
        self.cluster = self.clusters[min(int(scaled), len(self.clusters) - 1)]
        params["pick"] = scaled % 1.0
        if kind in REPLACING:
            # The group that debounces shortest does the replaces; the others mostly find the
            # cards current already and would never reach the point.
            self.cluster = self.clusters[-1]
        if kind.startswith("failpoint:"):
            return self._failpoint(kind.split(":", 1)[1], int(params["nth"]))
        if kind in SERVICE_KINDS:
            return self._service(kind, params)
        if kind in CLUSTER_KINDS or kind in GROWTH_KINDS:
            return self._topology_fault(kind, params)
        if kind == "scale_up":
            return {"worker": self.cluster.spawn().name}
        if kind == "zombie_in_replace":
            return self._frozen_in_replace(float(params["hold_s"]))
        worker = self.cluster.pick(float(params["pick"]))
        if worker is None:
            return {"skipped": "no running worker"}
        if kind == "sigkill":
            self.cluster.kill(worker, respawn_s=float(params["respawn_s"]))
            return {"worker": worker.name}
        if kind == "zombie":
            return self._frozen(worker, float(params["hold_s"]))
        if kind == "scale_down":
            if len(self.cluster.running()) <= MIN_WORKERS:
                return {"skipped": f"fewer than {MIN_WORKERS + 1} workers running"}
            self.cluster.terminate(worker)
            done = self.cluster.wait_exit(worker, EXIT_WAIT_S)
            return {"worker": worker.name, "exit": None if done is None else done.cause}
        raise ValueError(f"unknown fault kind {kind!r}")

    def _service(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """A fault of the services, or an operator's command: no worker of its own."""
        if kind == "broker_restart":
            return self.stack.restart_broker(hard=bool(params["hard"]))
        if kind == "postgres_restart":
            return self.stack.restart_postgres()
        if kind == "pg_terminate":
            return self.stack.terminate_backends(self.database)
        if kind == "read_only":
            return self.stack.read_only(self.database, float(params["hold_s"]))
        if kind == "revoked_permission":
            what, table = params["privilege"]
            return self.stack.revoke_permission(self.database, what, table, float(params["hold_s"]))
        if kind == "replay":
            return self._replay(str(params["mode"]), int(params["shift_by"]))
        return self._reextract(float(params["since_s"]))

    def _replay(self, mode: str, shift_by: int) -> dict[str, Any]:
        """What docs/operations.md says to do: stop every member of the group, move its offsets
        back with ``cardwright replay``, start the members again. Records the group committed
        are read again; redelivery must change nothing."""
        cluster = self.cluster
        stopped = 0
        deadline = time.monotonic() + GROUP_EMPTY_WAIT_S
        while (cluster.running() or cluster.pending_respawns()) and time.monotonic() < deadline:
            leaving = cluster.running()  # a respawn may start meanwhile: stop it too
            for worker in leaving:
                cluster.terminate(worker)
            for worker in leaving:
                cluster.wait_exit(worker, EXIT_WAIT_S)
            stopped += len(leaving)
            time.sleep(0.1)
        args = ["--to-earliest"] if mode == "earliest" else [f"--shift-by={shift_by}"]
        attempts = 0
        while True:
            attempts += 1
            done = self._command(["replay", *args, "--json"])
            if mode == "shift" and "no committed offset" in done.stderr:
                # A partition the group never committed cannot be shifted: from the start.
                args, mode = ["--to-earliest"], "earliest"
                continue
            if done.returncode != 1 or time.monotonic() > deadline:
                break
            time.sleep(1.0)  # still members in the group: a killed one not yet timed out
        for _ in range(max(1, stopped)):
            cluster.spawn()
        if done.returncode != 0:
            raise RuntimeError(f"cardwright replay exited {done.returncode}: {done.stderr[-2000:]}")
        return {"mode": mode, "stopped": stopped, "attempts": attempts}

    def _reextract(self, since_s: float) -> dict[str, Any]:
        """``cardwright reextract --since`` while the group runs, as an operator would."""
        since = (datetime.now(UTC) - timedelta(seconds=since_s)).isoformat()
        done = self._command(["reextract", "--since", since, "--json"])
        # Exit 1 is the command's answer that some topic failed (a misbehaving extractor) or
        # was missing; anything else is the harness's or the command's error.
        if done.returncode not in (0, 1):
            raise RuntimeError(
                f"cardwright reextract exited {done.returncode}: {done.stderr[-2000:]}"
            )
        return {"since_s": since_s, "exit": done.returncode}

    def _command(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        """``cardwright ARGS`` with the group's settings, as the database's owner (an operator);
        through the test launcher, so a planted bug is in the operator's cardwright too."""
        env = dict(self.cluster.env) | {
            "CARDWRIGHT_DATABASE_URL": self.stack.database_url(self.database)
        }
        return subprocess.run(
            [sys.executable, "-m", "tests.member", *args],
            env=env,
            cwd=self.cluster.cwd,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    def _topology_fault(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        if kind == "add_partitions":
            return self.stack.add_partitions(self.topic, 2 * self.partitions)
        if self.brokers is None:
            return {"skipped": "one broker: run with --brokers 3"}
        b = self.brokers
        if kind == "rolling_restart":
            return b.rolling_restart()
        if kind == "controller_change":
            return b.controller_change()
        if kind.startswith("leader_"):
            partition, node = b.leader_of(float(params["pick"]))
            where: dict[str, Any] = {"partition": partition}
        else:
            node, where = b.coordinator(), {"coordinator": True}
        if node < 0:
            return {"skipped": "no leader", **where}
        if kind.endswith("_kill"):
            return where | b.kill(node, float(params["down_s"]))
        return where | b.freeze(node, float(params["hold_s"]))

    def _failpoint(self, name: str, nth: int) -> dict[str, Any]:
        """Arm a new worker; if it leaves without reaching the point (no traffic came its way
        in time), arm another."""
        attempts: list[dict[str, Any]] = []
        while len(attempts) < FAILPOINT_ATTEMPTS and not any(a["fired"] for a in attempts):
            attempts.append(self._armed_worker(name, nth))
        return attempts[-1] | {"attempts": len(attempts)}

    def _armed_worker(self, name: str, nth: int) -> dict[str, Any]:
        worker = self.cluster.spawn(armed=f"{name}:{nth}", slot=False)
        waited = FIRE_WAIT_S
        if name == "in_on_revoke":
            _wait_for_partitions(worker, FIRE_WAIT_S)
            waited = REVOKE_AFTER_S
        done = self.cluster.wait_exit(worker, waited)
        if done is None:
            self.cluster.terminate(worker)
            done = self.cluster.wait_exit(worker, EXIT_WAIT_S)
        cause = None if done is None else done.cause
        return {"worker": worker.name, "fired": cause == "failpoint", "exit": cause}

    def _frozen(self, worker: WorkerProc, hold_s: float) -> dict[str, Any]:
        self.cluster.freeze(worker)
        time.sleep(hold_s)
        self.cluster.thaw(worker)
        return {"worker": worker.name, "hold_s": hold_s}

    def _frozen_in_replace(self, hold_s: float) -> dict[str, Any]:
        """A worker frozen in its first replace; one more try if none came its way in time."""
        first = self._freeze_in_replace(hold_s)
        if first["fired"]:
            return first
        return self._freeze_in_replace(hold_s) | {"attempts": 2}

    def _freeze_in_replace(self, hold_s: float) -> dict[str, Any]:
        worker = self.cluster.spawn(armed="replace_after_delete:1:stop", slot=False)
        deadline = time.monotonic() + FREEZE_WAIT_S
        while worker.state() not in ("T", "") and time.monotonic() < deadline:
            time.sleep(0.05)
        frozen = worker.state() == "T"
        if frozen:
            worker.frozen = True  # stopped by its failpoint; the harness wakes it
            time.sleep(hold_s)
            self.cluster.thaw(worker)
            time.sleep(AFTER_THAW_S)
        self.cluster.terminate(worker)
        done = self.cluster.wait_exit(worker, EXIT_WAIT_S)
        return {
            "worker": worker.name,
            "fired": frozen,
            "hold_s": hold_s if frozen else 0,
            "exit": None if done is None else done.cause,
        }


def _wait_for_partitions(worker: WorkerProc, timeout_s: float) -> bool:
    """Wait until ``worker``'s audit log shows it was assigned at least one partition."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.audit.exists() and any(
            line.get("event") == "assigned" and line.get("partitions")
            for line in read_jsonl([worker.audit])
        ):
            return True
        time.sleep(0.2)
    return False
