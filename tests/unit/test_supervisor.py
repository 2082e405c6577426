"""The worker supervisor: restart backoff, finished and misconfigured children, clean stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cardwright import supervisor
from cardwright.supervisor import (
    RESTART_CAP_S,
    Supervisor,
    child_env,
    restart_delay,
)


def test_restart_delay_doubles_up_to_the_cap() -> None:
    assert [restart_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert restart_delay(50) == RESTART_CAP_S


def test_each_child_gets_its_index_and_its_own_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARDWRIGHT_METRICS_PORT", "9999")
    env = child_env(2, 9100)
    assert env["CARDWRIGHT_WORKER_INDEX"] == "2"
    assert env["CARDWRIGHT_METRICS_PORT"] == "9102"
    assert "CARDWRIGHT_METRICS_PORT" not in child_env(0, None)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_children_that_finish_are_not_restarted_and_the_supervisor_exits_0() -> None:
    started = []

    def command(index: int) -> list[str]:
        started.append(index)
        return python("pass")

    assert Supervisor(2, command, lambda i: {}, until_idle=True).run() == 0
    assert sorted(started) == [0, 1]


def test_a_configuration_error_stops_everything_with_status_2() -> None:
    def command(index: int) -> list[str]:
        return python("import sys; sys.exit(2)" if index == 0 else "import time; time.sleep(60)")

    began = time.monotonic()
    assert Supervisor(2, command, lambda i: {}).run() == 2
    assert time.monotonic() - began < 30  # the sleeping sibling was stopped, not waited out


def test_a_crashed_child_is_restarted_after_the_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "RESTART_BASE_S", 0.1)
    marker = tmp_path / "runs"
    # Crash twice (exit 1), then finish: the supervisor must start it three times.
    code = (
        f"import pathlib, sys; p = pathlib.Path({str(marker)!r}); "
        "n = len(p.read_text()) if p.exists() else 0; p.write_text('x' * (n + 1)); "
        "sys.exit(1 if n < 2 else 0)"
    )
    assert Supervisor(1, lambda i: python(code), lambda i: {}, until_idle=True).run() == 0
    assert marker.read_text() == "xxx"


def test_sigterm_stops_all_children_cleanly(tmp_path: Path) -> None:
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    stopped = [tmp_path / f"stopped-{i}" for i in range(2)]
    code = (
        "import pathlib, signal, sys, time\n"
        "def bye(*_):\n"
        "    pathlib.Path(sys.argv[2]).write_text('ok'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "pathlib.Path(sys.argv[1]).write_text('ok')\n"
        "time.sleep(60)\n"
    )
    sup = Supervisor(2, lambda i: [*python(code), str(ready[i]), str(stopped[i])], lambda i: {})

    def stop_when_ready() -> None:
        deadline = time.monotonic() + 30
        while not all(p.exists() for p in ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        sup.request_stop(signal.SIGTERM)

    threading.Thread(target=stop_when_ready, daemon=True).start()
    assert sup.run() == 0
    assert all(p.read_text() == "ok" for p in stopped)


def _stop_after(sup: Supervisor, done: Callable[[], bool], signals: int = 1) -> None:
    def watch() -> None:
        deadline = time.monotonic() + 60
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(signals):
            sup.request_stop(signal.SIGTERM)
            time.sleep(0.3)

    threading.Thread(target=watch, daemon=True).start()


def test_without_until_idle_a_child_that_exits_0_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member stopped by a stray SIGTERM (exit 0) is not 'finished': N must keep running."""
    monkeypatch.setattr(supervisor, "RESTART_BASE_S", 0.05)
    marker = tmp_path / "runs"
    code = (
        f"import pathlib; p = pathlib.Path({str(marker)!r}); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x')"
    )
    sup = Supervisor(1, lambda i: python(code), lambda i: {})
    _stop_after(sup, lambda: marker.exists() and len(marker.read_text()) >= 3)
    assert sup.run() == 0
    assert len(marker.read_text()) >= 3


def test_a_child_whose_liveness_keeps_failing_is_killed_and_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "LIVENESS_CHECK_S", 0.05)
    monkeypatch.setattr(supervisor, "RESTART_BASE_S", 0.05)
    marker = tmp_path / "starts"
    code = (
        f"import pathlib, time; p = pathlib.Path({str(marker)!r}); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); time.sleep(60)"
    )
    checks: list[int] = []

    def liveness(index: int) -> bool:
        checks.append(index)
        return False  # a member that says it is stuck

    sup = Supervisor(1, lambda i: python(code), lambda i: {}, liveness=liveness)
    _stop_after(sup, lambda: marker.exists() and len(marker.read_text()) >= 2)
    assert sup.run() == 0
    assert len(marker.read_text()) >= 2  # killed once, started again
    assert len(checks) >= supervisor.LIVENESS_FAILURES


def test_unknown_liveness_is_tolerated_during_the_start_up_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "LIVENESS_CHECK_S", 0.05)
    marker = tmp_path / "starts"
    code = (
        f"import pathlib, time; p = pathlib.Path({str(marker)!r}); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); time.sleep(60)"
    )
    checks: list[int] = []

    def liveness(index: int) -> None:
        checks.append(index)  # not serving yet

    sup = Supervisor(1, lambda i: python(code), lambda i: {}, liveness=liveness)
    _stop_after(sup, lambda: len(checks) >= 2 * supervisor.LIVENESS_FAILURES)
    assert sup.run() == 0
    assert marker.read_text() == "x"  # never killed


def test_a_second_signal_kills_children_that_are_still_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a member stuck in a long turn\n"
        f"pathlib.Path({str(ready)!r}).write_text('ok')\n"
        "time.sleep(120)\n"
    )
    started: list[subprocess.Popen[bytes]] = []
    sup = Supervisor(1, lambda i: python(code), lambda i: {})
    _stop_after(sup, ready.exists, signals=2)
    original = subprocess.Popen

    def remember(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = original(*args, **kwargs)
        started.append(process)
        return process

    monkeypatch.setattr(subprocess, "Popen", remember)  # the module supervisor calls through
    assert sup.run() == 0
    assert started[0].returncode == -signal.SIGKILL  # killed, not waited out for 60 s
