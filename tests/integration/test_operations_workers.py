"""`consume --workers 3`: a child killed with SIGKILL is restarted, the group converges, and the
cards end exactly as the model says: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cardwright.stack.procs import free_port
from tests.integration.conftest import Pipeline
from tests.integration.operations_support import log_lines, sample
from tests.integration.support import (
    committed_offsets,
    publish,
    read_state,
    stop,
    wait_for,
)
from tests.integration.workload import conversation_events, expected_cards, expected_hashes

pytestmark = pytest.mark.slow

WORKERS = 3
PARTITIONS = 4  # the harness's topics
# The killed member's partitions move once its session (10 s) expires or its restart joins;
# settling everything on a busy machine can take a minute.
SETTLE_S = 180


def three_free_ports() -> int:
    """A base port with base, base+1 and base+2 free on 127.0.0.1."""
    for _ in range(50):
        base = free_port()
        try:
            for offset in range(1, WORKERS):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no three consecutive free ports")


def children(log: Path) -> dict[int, list[int]]:
    """worker index -> pids it was started with, in order, from the supervisor's log lines."""
    started: dict[int, list[int]] = {}
    for line in log_lines(log):
        if line.get("logger") == "cardwright.supervisor" and "worker" in line and "pid" in line:
            started.setdefault(int(line["worker"]), []).append(int(line["pid"]))
    return started


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_survive_a_sigkilled_child_and_end_like_the_model(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    events = conversation_events(seed=51, users=3)
    third = len(events) // 3
    waves = [events[:third], events[third : 2 * third], events[2 * third :]]
    base = three_free_ports()
    log = tmp_path / "supervisor.log"
    with log.open("wb") as sink:
        supervisor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cardwright",
                "consume",
                "--workers",
                str(WORKERS),
                "--metrics-port",
                str(base),
            ],
            env=pipeline.env(CARDWRIGHT_LOG_FORMAT="json"),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    ports = [base + i for i in range(WORKERS)]
    try:
        wait_for(lambda: len(children(log)) == WORKERS, timeout=SETTLE_S)
        wait_for(lambda: converged(ports), timeout=SETTLE_S)
        publish(pipeline.bootstrap, pipeline.topic, waves[0])
        wait_for(
            lambda: (
                sum(sample(p, "cardwright_events_consumed_total") for p in ports) >= len(waves[0])
            ),
            timeout=SETTLE_S,
        )

        # Kill a child that owns partitions while the second wave is in flight: its partitions
        # move, and its uncommitted work is redone by their next owner.
        owned = [sample(p, "cardwright_assigned_partitions") for p in ports]
        index = owned.index(max(owned))
        victim = children(log)[index][0]
        publish(pipeline.bootstrap, pipeline.topic, waves[1])
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(children(log).get(index, [])) == 2, timeout=SETTLE_S)
        assert children(log)[index][1] != victim and not alive(victim)
        publish(pipeline.bootstrap, pipeline.topic, waves[2])

        expected = expected_hashes(events)
        wait_for(lambda: current_hashes(pipeline) == expected, timeout=SETTLE_S)
        # The group converged again, the restarted child included, and every partition is
        # committed to its end.
        wait_for(lambda: converged(ports), timeout=SETTLE_S)
        wait_for(
            lambda: (
                sum(
                    committed_offsets(
                        pipeline.bootstrap, pipeline.group, pipeline.topic, PARTITIONS
                    ).values()
                )
                == len(events)
            ),
            timeout=SETTLE_S,
        )
        assert supervisor.poll() is None
        pids = [started[-1] for started in children(log).values()]
        assert all(alive(pid) for pid in pids)
    finally:
        stop(supervisor)
    assert supervisor.returncode == 0
    assert not any(alive(pid) for pid in pids), "SIGTERM stopped every child"

    state = read_state(pipeline.engine)
    keys = state.run_keys()
    assert len(keys) == len(set(keys)), "duplicate runs"
    got: dict[tuple[object, object], list[tuple[object, object]]] = {}
    for user, topic, _card_id, _pos, kind, title in state.cards:
        got.setdefault((user, topic), []).append((kind, title))
    assert got == {k: v for k, v in expected_cards(events).items() if v}
    latest: dict[tuple[str, str], int] = {}
    for e in events:
        if (e.user_id, e.message_id) not in latest or e.revision > latest[
            (e.user_id, e.message_id)
        ]:
            latest[(e.user_id, e.message_id)] = e.revision
    assert {(m[0], m[1]): m[3] for m in state.messages} == latest


def converged(ports: list[int]) -> bool:
    """Each member owns at least one partition and together they own all of them."""
    owned = [sample(p, "cardwright_assigned_partitions") for p in ports]
    return all(owned) and sum(owned) == PARTITIONS


def current_hashes(pipeline: Pipeline) -> dict[tuple[object, object], object]:
    return {(u, t): h for (u, t, h) in read_state(pipeline.engine).current}


def test_a_child_stopped_by_sigterm_is_restarted_and_the_supervisor_keeps_running(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Without --until-idle a member never 'finishes': a stray SIGTERM (exit 0) is restarted,
    and the supervisor does not exit when the last original child has gone."""
    log = tmp_path / "supervisor.log"
    with log.open("wb") as sink:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "cardwright", "consume", "--workers", "2"],
            env=pipeline.env(CARDWRIGHT_LOG_FORMAT="json"),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        wait_for(lambda: len(children(log)) == 2, timeout=SETTLE_S)
        first = [children(log)[i][0] for i in (0, 1)]
        for pid in first:
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: all(len(children(log).get(i, [])) >= 2 for i in (0, 1)), SETTLE_S)
        assert supervisor.poll() is None
        restarted = [children(log)[i][-1] for i in (0, 1)]
        assert all(alive(pid) for pid in restarted) and not set(restarted) & set(first)
    finally:
        stop(supervisor)
    assert supervisor.returncode == 0
    assert not any(alive(pid) for pid in restarted)
