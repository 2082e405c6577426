"""Failpoints kill (or freeze) the process exactly at the N-th hit of the armed name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
from cardwright.failpoints import AFTER_BATCH_COMMIT, failpoint
for i in range(5):
    print(i, flush=True)
    failpoint(AFTER_BATCH_COMMIT)
print("done", flush=True)
"""
# A child Python starts in well under a second; the margin is for a busy machine.
WAIT_S = 30.0


def run(spec: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CARDWRIGHT_FAILPOINT": spec}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, text=True
    )


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]


def test_a_kill_failpoint_dies_with_sigkill_on_its_nth_hit() -> None:
    process = run("after_batch_commit:3")
    out, _ = process.communicate(timeout=WAIT_S)
    assert process.returncode == -signal.SIGKILL
    assert out.split() == ["0", "1", "2"]


def test_a_stop_failpoint_freezes_once_and_runs_on_after_sigcont() -> None:
    process = run("after_batch_commit:2:stop")
    deadline = time.monotonic() + WAIT_S
    while state(process.pid) != "T":
        assert time.monotonic() < deadline, "the process never stopped"
        time.sleep(0.05)
    process.send_signal(signal.SIGCONT)
    out, _ = process.communicate(timeout=WAIT_S)
    assert process.returncode == 0
    assert out.split() == ["0", "1", "2", "3", "4", "done"]


def test_an_unknown_action_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from cardwright.failpoints import AFTER_BATCH_COMMIT, failpoint

    monkeypatch.setenv("CARDWRIGHT_FAILPOINT", "after_batch_commit:1:pause")
    with pytest.raises(ValueError, match="unknown failpoint action"):
        failpoint(AFTER_BATCH_COMMIT)
