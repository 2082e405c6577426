"""`cardwright stack` against a separate native stack: its own state directory and ports.

These tests run the real console script, so they check what a developer sees: exports on
stdout, exit codes, and that `down` leaves no process of the stack behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from cardwright.stack.config import load_config
from cardwright.stack.native import process_markers
from cardwright.stack.procs import find_processes, free_port

# A cold native stack starts in 10-20 s; Maven may first have to fetch the jars.
CLI_TIMEOUT_S = 600


@dataclass(frozen=True)
class SeparateStack:
    state_dir: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # The console script installed beside this interpreter, as a developer runs it.
        script = Path(sys.executable).with_name("cardwright")
        return subprocess.run(
            [str(script), "stack", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def processes(self) -> list[int]:
        return find_processes(process_markers(load_config(self.env)))


@pytest.fixture
def separate_stack(stack_state_dir: Path) -> Iterator[SeparateStack]:
    env = {
        **os.environ,
        "CARDWRIGHT_STATE_DIR": str(stack_state_dir),
        "CARDWRIGHT_STACK_KAFKA_PORT": str(free_port()),
        "CARDWRIGHT_STACK_CONTROLLER_PORT": str(free_port()),
        "CARDWRIGHT_STACK_POSTGRES_PORT": str(free_port()),
        "CARDWRIGHT_STACK_MODE": "native",
    }
    stack = SeparateStack(state_dir=stack_state_dir, env=env)
    try:
        yield stack
    finally:
        stack.run("down")


def test_up_twice_status_and_down_leave_nothing_running(separate_stack: SeparateStack) -> None:
    """`up` is idempotent, prints only exports on stdout, and `down` stops every process."""
    config = load_config(separate_stack.env)

    first = separate_stack.run("up")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == config.exports()
    assert "kafka: ready" in first.stderr and "postgres: ready" in first.stderr

    status = separate_stack.run("status", "--json")
    assert status.returncode == 0, status.stderr
    before = json.loads(status.stdout)
    assert before["running"] is True
    assert before["state_dir"] == str(separate_stack.state_dir)

    second = separate_stack.run("up")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == config.exports()
    assert "already running" in second.stderr
    after = json.loads(separate_stack.run("status", "--json").stdout)
    assert after["kafka"]["pid"] == before["kafka"]["pid"]
    assert after["postgres"]["pid"] == before["postgres"]["pid"]

    # The services answer on the ports the exports name.
    admin = AdminClient({"bootstrap.servers": config.bootstrap})
    assert admin.list_topics(timeout=10).brokers
    conninfo = config.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    assert separate_stack.processes(), "the stack's processes are not found by their markers"

    down = separate_stack.run("down")
    assert down.returncode == 0, down.stderr
    assert "kafka: stopped" in down.stderr and "postgres: stopped" in down.stderr
    assert separate_stack.processes() == []

    stopped = separate_stack.run("status")
    assert stopped.returncode == 3
    assert "stopped" in stopped.stdout


def test_a_busy_port_is_a_clear_error_with_exit_code_2(separate_stack: SeparateStack) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**separate_stack.env, "CARDWRIGHT_STACK_KAFKA_PORT": str(port)}
        result = SeparateStack(separate_stack.state_dir, env).run("up")
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "CARDWRIGHT_STACK_KAFKA_PORT" in result.stderr
    assert result.stdout == ""
    assert separate_stack.processes() == []


def test_env_prints_exports_and_status_of_a_stopped_stack_exits_3(
    separate_stack: SeparateStack,
) -> None:
    config = load_config(separate_stack.env)
    printed = separate_stack.run("env")
    assert printed.returncode == 0
    assert printed.stdout.splitlines() == config.exports()
    assert separate_stack.run("status").returncode == 3


def test_database_url_is_a_fresh_empty_database(database_url: str) -> None:
    """The harness gives each test its own database, with no tables in it."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        name = conn.execute("SELECT current_database()").fetchone()
    assert tables == (0,)
    assert name is not None and name[0].startswith("cw_")
