"""A dead Kafka address gives each Kafka command one clear line, not a flood of librdkafka lines.

Runs the real console entry point against a port nothing listens on, so no service is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

DEAD = "127.0.0.1:1"  # port 1 (tcpmux) is refused on any machine that runs these tests
# Far above the command's own bound (a 5 s first contact plus start-up); only a hang trips it.
HANG_S = 60


def run(args: list[str], stdin: bytes = b"", **settings: str) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDWRIGHT_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env.update(settings)
    done = subprocess.run(
        [sys.executable, "-m", "cardwright", *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=HANG_S,
    )
    output = (done.stdout + done.stderr).decode()
    return done.returncode, [line for line in output.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "args",
    [
        ["lag", "--group", "g"],
        ["replay", "--group", "g", "--to-earliest", "--dry-run"],
        ["publish", "-"],
        ["publish", "--no-create-topic", "-"],
    ],
    ids=" ".join,
)
def test_a_dead_broker_is_one_clear_line(args: list[str]) -> None:
    code, lines = run([*args, "--bootstrap-servers", DEAD], stdin=b'{"not": "an event"}\n')
    assert code != 0
    assert len(lines) <= 3, "\n".join(lines)
    assert any(f"cannot reach Kafka at {DEAD}" in line for line in lines), lines
    assert any("Connection refused" in line for line in lines), "the cause is named"
    assert not any(line.startswith("%") for line in lines), "no raw librdkafka line"
    assert any(line.startswith('{"ts"') for line in lines), "JSON log lines off a terminal"


def test_librdkafka_lines_follow_cardwright_log_format() -> None:
    """JSON is the default off a terminal (the test above); CARDWRIGHT_LOG_FORMAT=text holds for
    librdkafka's lines as for cardwright's own."""
    args = ["lag", "--group", "g", "--bootstrap-servers", DEAD]
    code, lines = run(args, CARDWRIGHT_LOG_FORMAT="text")
    assert code != 0
    [kafka_line] = [line for line in lines if "cardwright.kafka" in line]
    assert " ERROR " in kafka_line and not kafka_line.startswith("{"), kafka_line
