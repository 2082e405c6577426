"""Failpoints do nothing unless a test arms them; the test launcher (tests/member.py) arms them
to kill (or freeze) the process exactly at the N-th hit, and plants bugs by name."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardwright.schema import failpoints
from tests import member

SCRIPT = """
import sys
from tests.member import arm_failpoint
from cardwright.schema.failpoints import AFTER_BATCH_COMMIT, failpoint
arm_failpoint(sys.argv[1])
for i in range(5):
    print(i, flush=True)
    failpoint(AFTER_BATCH_COMMIT)
print("done", flush=True)
"""
# A child Python starts in well under a second; the margin is for a busy machine.
WAIT_S = 30.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    yield
    failpoints.disarm_all()


def run(spec: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, spec], stdout=subprocess.PIPE, text=True, cwd=REPO
    )


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]


def test_an_unarmed_failpoint_does_nothing() -> None:
    for name in failpoints.KNOWN:
        failpoints.failpoint(name)


def test_an_armed_failpoint_runs_its_action_each_time() -> None:
    hits: list[int] = []
    failpoints.arm(failpoints.IN_ON_REVOKE, lambda: hits.append(1))
    failpoints.failpoint(failpoints.IN_ON_REVOKE)
    failpoints.failpoint(failpoints.AFTER_BATCH_COMMIT)
    failpoints.failpoint(failpoints.IN_ON_REVOKE)
    assert hits == [1, 1]


def test_arming_an_unknown_failpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown failpoint"):
        failpoints.arm("no_such_point", lambda: None)


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


def test_an_unknown_action_or_planted_bug_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown failpoint action"):
        member.arm_failpoint("after_batch_commit:1:pause")
    with pytest.raises(ValueError, match="unknown planted bug"):
        member.plant("no_such_bug")


def test_the_product_reads_no_test_switch() -> None:
    """No product module mentions the launcher's environment variables."""
    product = [
        REPO / name
        for name in ("schema", "producers", "consumers", "extractors", "storage", "cardwright")
    ]
    for folder in product:
        for path in folder.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "CARDWRIGHT_FAILPOINT" not in text, path
            assert "CARDWRIGHT_PLANTED_BUG" not in text, path
