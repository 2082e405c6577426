"""cardwright itself under measurement: end-to-end throughput, no-op replay and freshness.

Each measurement runs real ``bench.member`` processes (the product's worker) against the bench
stack, with its own database and consumer group, and is timed from the first poll that owns
partitions until the group's lag is 0 and every topic's cards come from its current input.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.completion import Unfinished, cards_current, wait_done
from bench.environment import REPO_ROOT, Stack, fresh_database
from bench.member import read_log
from cardwright.storage.engine import make_engine

# Debounce for the benchmark: a topic is extracted once quiet for 1 s (the product default is
# 3 s); short enough that the tail of a throughput run is small, long enough to merge a burst.
BENCH_DEBOUNCE_MS = 1000
BENCH_MAX_DELAY_MS = 10_000
# A member that does not stop within this after SIGTERM is killed (it only commits and closes).
STOP_GRACE_S = 30


@dataclass(frozen=True, slots=True)
class Target:
    """Where a measurement's consumers read from and write to."""

    stack: Stack
    topic: str
    database_url: str
    group: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS": self.stack.bootstrap,
            "CARDWRIGHT_DATABASE_URL": self.database_url,
            "CARDWRIGHT_EVENTS_TOPIC": self.topic,
            "CARDWRIGHT_GROUP_ID": self.group,
            "CARDWRIGHT_DEBOUNCE_MS": str(BENCH_DEBOUNCE_MS),
            "CARDWRIGHT_MAX_DELAY_MS": str(BENCH_MAX_DELAY_MS),
        }
        env.update(extra)
        return env


def new_target(stack: Stack, topic: str, label: str) -> Target:
    return Target(
        stack,
        topic,
        fresh_database(stack.admin_database_url, label),
        f"bench-{label}-{uuid.uuid4().hex[:6]}",
    )


class Members:
    """``count`` member processes; ``stop`` ends them and returns their logs."""

    def __init__(self, target: Target, count: int, detail: bool = False) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="cardwright-bench-"))
        self.logs = [self._dir / f"member-{i}.jsonl" for i in range(count)]
        args = ["--detail"] if detail else []
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.member", "--log", str(log), *args],
                env=target.env(),
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for log in self.logs
        ]

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self) -> list[list[list[Any]]]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        errors = []
        for process in self.processes:
            try:
                _, err = process.communicate(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            if process.returncode not in (0, -signal.SIGTERM):
                errors.append(err[-2000:])
        if errors:
            raise RuntimeError(f"a bench member failed:\n{errors[0]}")
        return [read_log(log) for log in self.logs if log.exists()]


def run_members(
    target: Target,
    count: int,
    expected_topics: int,
    timeout_s: float,
    detail: bool = False,
    before_wait: Callable[[], None] | None = None,
) -> tuple[float, list[list[list[Any]]]]:
    """Start members, wait until done, stop them; returns (done time, logs)."""
    engine = make_engine(target.database_url)
    members = Members(target, count, detail)
    try:
        if before_wait is not None:
            before_wait()
        done = wait_done(
            target.stack.bootstrap,
            target.group,
            target.topic,
            lambda: cards_current(engine, expected_topics),
            timeout_s,
            members.alive,
        )
    except Unfinished:
        members.stop()
        raise
    finally:
        engine.dispose()
    return done, members.stop()


def first(logs: list[list[list[Any]]], name: str) -> float:
    times = [line[1] for log in logs for line in log if line[0] == name]
    if not times:
        raise RuntimeError(f"no {name!r} event in the members' logs")
    return float(min(times))


def peak_rss_mb(logs: list[list[list[Any]]]) -> list[float]:
    return [round(line[2] / 2**20, 1) for log in logs for line in log if line[0] == "exit"]


def throughput(
    target: Target, processes: int, events: int, topics: int, timeout_s: float
) -> dict[str, Any]:
    """Events/s from the first poll until lag 0 and every topic extracted."""
    done, logs = run_members(target, processes, topics, timeout_s)
    seconds = done - first(logs, "assigned")
    runs = count_runs(target)
    return {
        "processes": processes,
        "events": events,
        "topics": topics,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1),
        "runs": runs,
        "runs_per_topic": round(runs / topics, 3),
        "peak_rss_mb": peak_rss_mb(logs),
    }


def count_runs(target: Target) -> int:
    """Extraction runs recorded in the target's database (each one an extractor call)."""
    engine = make_engine(target.database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM extract_runs")).scalar_one())
    finally:
        engine.dispose()


def replay(target: Target, events: int, topics: int, timeout_s: float) -> dict[str, Any]:
    """Reset a group that processed everything to the earliest offsets, consume again."""
    subprocess.run(
        [sys.executable, "-m", "cardwright", "replay", "--group", target.group, "--to-earliest"],
        env=target.env(),
        check=True,
        capture_output=True,
        timeout=60,
    )
    runs_before = count_runs(target)
    done, logs = run_members(target, 1, topics, timeout_s)
    runs_after = count_runs(target)
    seconds = done - first(logs, "assigned")
    return {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1),
        "new_runs": runs_after - runs_before,
    }
