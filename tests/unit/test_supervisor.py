"""The worker supervisor: restart backoff, finished and misconfigured children, clean stop."""

from __future__ import annotations

import signal
import sys
import threading
import time

from cardwright import supervisor
from cardwright.supervisor import (
    RESTART_CAP_S,
    Supervisor,
    child_env,
    restart_delay,
)


def test_restart_delay_doubles_up_to_the_cap():
    assert [restart_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert restart_delay(50) == RESTART_CAP_S


def test_each_child_gets_its_index_and_its_own_metrics_port(monkeypatch):
    monkeypatch.setenv("CARDWRIGHT_METRICS_PORT", "9999")
    env = child_env(2, 9100)
    assert env["CARDWRIGHT_WORKER_INDEX"] == "2"
    assert env["CARDWRIGHT_METRICS_PORT"] == "9102"
    assert "CARDWRIGHT_METRICS_PORT" not in child_env(0, None)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_children_that_finish_are_not_restarted_and_the_supervisor_exits_0():
    started = []

    def command(index: int) -> list[str]:
        started.append(index)
        return python("pass")

    assert Supervisor(2, command, lambda i: {}).run() == 0
    assert sorted(started) == [0, 1]


def test_a_configuration_error_stops_everything_with_status_2():
    def command(index: int) -> list[str]:
        return python("import sys; sys.exit(2)" if index == 0 else "import time; time.sleep(60)")

    began = time.monotonic()
    assert Supervisor(2, command, lambda i: {}).run() == 2
    assert time.monotonic() - began < 30  # the sleeping sibling was stopped, not waited out


def test_a_crashed_child_is_restarted_after_the_backoff(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "RESTART_BASE_S", 0.1)
    marker = tmp_path / "runs"
    # Crash twice (exit 1), then finish: the supervisor must start it three times.
    code = (
        f"import pathlib, sys; p = pathlib.Path({str(marker)!r}); "
        "n = len(p.read_text()) if p.exists() else 0; p.write_text('x' * (n + 1)); "
        "sys.exit(1 if n < 2 else 0)"
    )
    assert Supervisor(1, lambda i: python(code), lambda i: {}).run() == 0
    assert marker.read_text() == "xxx"


def test_sigterm_stops_all_children_cleanly(tmp_path):
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
