"""``cardwright consume --workers N``: N consumer processes in one group, kept running.

The supervisor starts N children (``python -m cardwright consume ...``, one group member each)
and keeps N running: a child that exits is restarted with exponential backoff, and a child
whose ``/livez`` keeps failing (when the members serve a metrics port) is killed and restarted.
On SIGTERM or SIGINT it asks every child to stop (SIGTERM: each commits its safe offsets and
leaves the group) and waits for them; a second signal cuts the wait short (SIGKILL now).

    child exits 2   configuration or usage error: restarting cannot help; stop all, exit 2
    child exits 0   with --until-idle: finished, not restarted; all finished -> exit 0
                    without it: a member must never stop by itself (a stray SIGTERM, say):
                    restarted like a crash
    anything else   crash (signal, error): restart after 1 s, 2 s, 4 s ... up to 60 s; a child
                    that ran for a minute starts again from 1 s

Children inherit stderr, so their JSON log lines (each naming its instance) interleave.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cardwright import logs
from cardwright.consumers.backoff import exponential
from cardwright.settings import Settings

log = logging.getLogger("cardwright.supervisor")

# Restart delays double from BASE to CAP: a crash loop (bad deploy, broker down) costs one
# start a minute, while a one-off crash is back within a second.
RESTART_BASE_S = 1.0
RESTART_CAP_S = 60.0
# A child that ran this long was healthy: its next crash starts the backoff from the beginning.
STABLE_AFTER_S = 60.0
# A stopping child finishes its loop turn, commits and leaves the group; a turn may hold an
# extraction up to its 30 s timeout, so wait twice that before SIGKILL.
STOP_GRACE_S = 60.0
# How often the supervisor looks at its children: restarts need no finer timing than this.
TICK_S = 0.2
EXIT_USAGE = 2
# Liveness of a child is read from its /livez this often; a member's own liveness window
# (CARDWRIGHT_LIVENESS_TIMEOUT_S, 120 s) already allows for slow turns, so the supervisor only
# needs to notice within seconds that the member itself says it is stuck.
LIVENESS_CHECK_S = 5.0
# Consecutive failed checks before a kill: one failed HTTP request (a busy machine, a GC pause)
# must not cost a member its partitions.
LIVENESS_FAILURES = 3
# A starting member imports, connects and joins the group before it serves /livez.
LIVENESS_GRACE_S = 30.0


def restart_delay(crashes: int) -> float:
    """Seconds to wait before the restart that follows the ``crashes``-th crash in a row."""
    return exponential(crashes, RESTART_BASE_S, RESTART_CAP_S)


@dataclass(slots=True)
class Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0  # in a row; reset once a child ran for STABLE_AFTER_S
    restart_at: float | None = None
    finished: bool = False
    liveness_failures: int = 0
    checked_at: float = 0.0


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the supervisor dies (Linux), so a killed
    supervisor leaves no orphaned group members."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervisor:
    def __init__(
        self,
        count: int,
        command: Callable[[int], Sequence[str]],
        env: Callable[[int], dict[str, str]],
        clock: Callable[[], float] = time.monotonic,
        *,
        until_idle: bool = False,
        liveness: Callable[[int], bool | None] | None = None,
    ) -> None:
        """``until_idle``: children run with ``--until-idle``, so exit 0 means finished.
        ``liveness(index)``: True live, False not live, None unknown (no answer counts as
        not live only after the start-up grace)."""
        self._slots = [Slot(i) for i in range(count)]
        self._command = command
        self._env = env
        self._clock = clock
        self._until_idle = until_idle
        self._liveness = liveness
        self._stop_signal: int | None = None
        self._signals = 0

    def request_stop(self, signum: int, _frame: object = None) -> None:
        self._stop_signal = signum
        self._signals += 1

    def run(self) -> int:
        """Supervise until asked to stop, all children finished, or a configuration error."""
        previous = {
            signum: signal.signal(signum, self.request_stop)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for slot in self._slots:
                self._start(slot)
            while self._stop_signal is None:
                status = self._tick()
                if status >= 0:
                    return status
                time.sleep(TICK_S)
            log.info("signal %d: stopping %d workers", self._stop_signal, len(self._slots))
            return 0
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _tick(self) -> int:
        """Reap and restart children; return an exit status to finish with, or -1 to go on."""
        now = self._clock()
        for slot in self._slots:
            code = None if slot.process is None else slot.process.poll()
            if slot.process is not None and code is not None:
                pid = slot.process.pid
                slot.process = None
                if code == 0 and self._until_idle:
                    slot.finished = True
                    log.info("worker %d (pid %d) finished", slot.index, pid)
                    continue
                if code == EXIT_USAGE:
                    log.error("worker %d exited with a configuration error; stopping", slot.index)
                    return EXIT_USAGE
                ran = now - slot.started_at
                slot.crashes = 1 if ran >= STABLE_AFTER_S else slot.crashes + 1
                delay = restart_delay(slot.crashes)
                slot.restart_at = now + delay
                log.warning(
                    "worker %d (pid %d) exited with %d after %.1f s; restarting in %.1f s",
                    slot.index,
                    pid,
                    code,
                    ran,
                    delay,
                    extra={"worker": slot.index, "exit_code": code},
                )
            elif slot.process is not None:
                self._check_liveness(slot, now)
            if slot.restart_at is not None and now >= slot.restart_at:
                self._start(slot)
        return 0 if all(slot.finished for slot in self._slots) else -1

    def _check_liveness(self, slot: Slot, now: float) -> None:
        """Kill a child whose /livez failed LIVENESS_FAILURES times in a row; the next tick
        reaps it and restarts it like a crash."""
        if (
            self._liveness is None
            or slot.process is None
            or now - slot.checked_at < LIVENESS_CHECK_S
        ):
            return
        slot.checked_at = now
        live = self._liveness(slot.index)
        if live is None and now - slot.started_at < LIVENESS_GRACE_S:
            return
        slot.liveness_failures = 0 if live else slot.liveness_failures + 1
        if slot.liveness_failures >= LIVENESS_FAILURES:
            log.error(
                "worker %d (pid %d) failed its liveness check %d times; killing it",
                slot.index,
                slot.process.pid,
                slot.liveness_failures,
                extra={"worker": slot.index},
            )
            slot.process.kill()
            slot.liveness_failures = 0

    def _start(self, slot: Slot) -> None:
        slot.process = subprocess.Popen(
            list(self._command(slot.index)),
            env=self._env(slot.index),
            preexec_fn=_die_with_parent,  # the supervisor runs no other thread
        )
        slot.started_at = self._clock()
        slot.checked_at = slot.started_at
        slot.restart_at = None
        log.info(
            "worker %d started (pid %d)",
            slot.index,
            slot.process.pid,
            extra={"worker": slot.index, "pid": slot.process.pid},
        )

    def _stop_all(self) -> None:
        running = [s.process for s in self._slots if s.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = self._clock() + STOP_GRACE_S
        signals = self._signals
        while any(p.poll() is None for p in running):
            if self._signals > max(signals, 1):
                log.warning("second signal: killing the workers that are still stopping")
                break
            if self._clock() >= deadline:
                log.warning("workers did not stop within %.0f s; killing them", STOP_GRACE_S)
                break
            time.sleep(TICK_S)
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()


def supervise(settings: Settings, workers: int, until_idle: float | None) -> int:
    """Run ``workers`` children of ``cardwright consume`` with these settings; the exit status."""
    args = ["--group", settings.group_id, "--topic", settings.events_topic, "--no-create-topic"]
    args += ["--extractor", settings.extractor]
    args += [] if until_idle is None else ["--until-idle", str(until_idle)]
    logs.bind(instance=f"supervisor-{socket.gethostname()}-{os.getpid()}")
    port = settings.metrics_port
    supervisor = Supervisor(
        workers,
        lambda _: child_command(args),
        lambda i: child_env(i, port),
        until_idle=until_idle is not None,
        liveness=None if port is None else (lambda i: probe_livez(settings.metrics_host, port + i)),
    )
    return supervisor.run()


def probe_livez(host: str, port: int) -> bool | None:
    """True when the member's /livez answers 200, False for another answer, None for none."""
    address = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - reading, not binding
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/livez", timeout=2) as answer:
            return bool(answer.status == 200)
    except urllib.error.HTTPError:
        return False
    except OSError:
        return None


def child_command(args: Sequence[str]) -> list[str]:
    """The command line of one child: this interpreter running ``cardwright consume``."""
    return [sys.executable, "-m", "cardwright", "consume", *args]


def child_env(index: int, metrics_port: int | None) -> dict[str, str]:
    env = {**os.environ, "CARDWRIGHT_WORKER_INDEX": str(index)}
    env.pop("CARDWRIGHT_METRICS_PORT", None)
    if metrics_port is not None:
        env["CARDWRIGHT_METRICS_PORT"] = str(metrics_port + index)  # one port per child
    return env
