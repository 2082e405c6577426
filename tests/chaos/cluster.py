"""The consumer group under test: ``cardwright consume`` processes, started, killed and frozen.

Each process writes its audit log (``CARDWRIGHT_AUDIT_LOG``) and its stderr to files of its own
under the run's directory. A supervisor thread notices every exit and says why it happened: the
harness killed or stopped it, an armed failpoint fired, or it crashed on its own (an anomaly).
Workers in a base slot are restarted after a pause; extra workers are not.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# How often the supervisor looks for exits; a restart pause is seconds, so this is plenty.
POLL_S = 0.2
# A consumer leaves the group cleanly within a few seconds of SIGTERM (it finishes its turn,
# commits and closes); past this it is stuck and gets SIGKILL.
TERM_GRACE_S = 30.0
RESPAWN_S = (0.5, 3.0)


@dataclass(slots=True)
class WorkerProc:
    name: str
    process: subprocess.Popen[bytes]
    audit: Path
    log: Path
    armed: str | None
    slot: bool  # a base slot: restarted after it dies
    started_m: float
    harness: str | None = None  # what the harness did last: "kill" or "term"
    frozen: bool = False
    respawn_s: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def state(self) -> str:
        """The kernel's process state letter (R, S, T for stopped, Z), "" when gone."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return ""
        return stat.rsplit(")", 1)[-1].split()[0]


@dataclass(frozen=True, slots=True)
class Exit:
    name: str
    pid: int
    returncode: int
    cause: str  # "sigkill" | "failpoint" | "term" | "crash"
    armed: str | None
    at_m: float
    log_tail: str


class Cluster:
    def __init__(
        self,
        env: dict[str, str],
        out_dir: Path,
        seed: int,
        label: str = "w",
        cwd: Path | None = None,
    ) -> None:
        self.env = env
        self.cwd = cwd
        self.out_dir = out_dir
        self.label = label
        (out_dir / "audit").mkdir(parents=True, exist_ok=True)
        (out_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(f"cluster-{seed}-{label}")
        self.workers: list[WorkerProc] = []
        self.exits: list[Exit] = []
        self._respawns: list[float] = []  # monotonic times at which a slot is refilled
        self._lock = threading.RLock()
        self._closing = False
        self._count = 0
        self._thread = threading.Thread(target=self._supervise, name="chaos-cluster", daemon=True)

    # --- processes ----------------------------------------------------------------------------

    def start(self, count: int) -> None:
        for _ in range(count):
            self.spawn()

    def spawn(self, armed: str | None = None, slot: bool = True) -> WorkerProc:
        with self._lock:
            if not self._thread.is_alive() and not self._closing:
                self._thread.start()  # the supervisor runs from the first worker on
            self._count += 1
            name = f"{self.label}{self._count:03d}"
            audit = self.out_dir / "audit" / f"{name}.jsonl"
            log = self.out_dir / "logs" / f"{name}.log"
            env = {**self.env, "CARDWRIGHT_AUDIT_LOG": str(audit)}
            if armed:
                env["CARDWRIGHT_FAILPOINT"] = armed
            with log.open("ab") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "tests.member", "consume", "--no-create-topic"],
                    env=env,
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            worker = WorkerProc(name, process, audit, log, armed, slot, time.monotonic())
            self.workers.append(worker)
            return worker

    def running(self) -> list[WorkerProc]:
        """Workers alive and not frozen by the harness."""
        with self._lock:
            return [w for w in self.workers if w.process.poll() is None and not w.frozen]

    def pick(self, fraction: float) -> WorkerProc | None:
        candidates = self.running()
        if not candidates:
            return None
        return candidates[min(len(candidates) - 1, int(fraction * len(candidates)))]

    def kill(self, worker: WorkerProc, respawn_s: float | None = None) -> None:
        worker.harness, worker.respawn_s = "kill", respawn_s
        _signal(worker, signal.SIGKILL)

    def terminate(self, worker: WorkerProc, respawn: bool = False) -> None:
        if worker.harness != "kill":  # a SIGKILL already on its way stays the cause of its exit
            worker.harness = "term"
        worker.slot = worker.slot and respawn
        _signal(worker, signal.SIGTERM)

    def freeze(self, worker: WorkerProc) -> None:
        worker.frozen = True
        _signal(worker, signal.SIGSTOP)

    def thaw(self, worker: WorkerProc) -> None:
        _signal(worker, signal.SIGCONT)
        worker.frozen = False

    def wait_exit(self, worker: WorkerProc, timeout_s: float) -> Exit | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for done in self.exits:
                    if done.pid == worker.pid:
                        return done
            time.sleep(POLL_S / 2)
        return None

    def pending_respawns(self) -> int:
        with self._lock:
            return len(self._respawns)

    def shutdown(self) -> None:
        """Wake frozen workers, stop every worker cleanly (SIGKILL past the grace), and wait."""
        with self._lock:
            self._closing = True
            self._respawns.clear()
            alive = [w for w in self.workers if w.process.poll() is None]
        for worker in alive:
            if worker.frozen:
                self.thaw(worker)
            self.terminate(worker)
        deadline = time.monotonic() + TERM_GRACE_S
        for worker in alive:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.harness = "kill"
                worker.process.kill()
                worker.process.wait()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._reap()

    # --- supervision --------------------------------------------------------------------------

    def _supervise(self) -> None:
        while True:
            with self._lock:
                closing = self._closing
                self._reap()
                now = time.monotonic()
                due = [t for t in self._respawns if t <= now]
                self._respawns = [t for t in self._respawns if t > now]
            for _ in due:
                if not closing:
                    self.spawn()
            if closing:
                return
            time.sleep(POLL_S)

    def _reap(self) -> None:
        with self._lock:
            for worker in list(self.workers):
                code = worker.process.poll()
                if code is None:
                    continue
                self.workers.remove(worker)
                self.exits.append(self._exit(worker, code))
                if worker.slot and not self._closing:
                    pause = worker.respawn_s or self.rng.uniform(*RESPAWN_S)
                    self._respawns.append(time.monotonic() + pause)

    def _exit(self, worker: WorkerProc, code: int) -> Exit:
        if worker.harness == "kill":
            cause = "sigkill"
        elif worker.armed and code == -signal.SIGKILL:
            cause = "failpoint"
        elif worker.harness == "term" and code in (0, -signal.SIGTERM):
            # -SIGTERM: asked to leave before it had installed its signal handlers.
            cause = "term"
        else:
            cause = "crash"
        tail = _tail(worker.log) if cause == "crash" else ""
        return Exit(worker.name, worker.pid, code, cause, worker.armed, time.monotonic(), tail)


def clean_environment() -> dict[str, str]:
    """This process's environment without any CARDWRIGHT_* setting that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CARDWRIGHT_")}


def _signal(worker: WorkerProc, sig: int) -> None:
    if worker.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(sig)


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
