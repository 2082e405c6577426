"""A member blocked on a row lock another session holds is not ready, dead-letters nothing, and
recovers by itself once the lock is released; every session has the documented timeouts.

The member runs as `cardwright consume --metrics-port P`; the blocking session is this test's own
open transaction holding ``SELECT ... FOR UPDATE`` on a topic row the member must update.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from cardwright.stack.procs import free_port
from cardwright.storage.engine import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, make_engine
from cardwright.storage.tables import topics
from tests.conftest import TEST_TOPIC_PARTITIONS
from tests.integration.conftest import Pipeline
from tests.integration.operations_support import (
    log_lines,
    probe,
    start_with_metrics,
    total,
)
from tests.integration.support import (
    committed_offsets,
    event,
    publish,
    read_state,
    stop,
    wait_for,
)
from tests.integration.workload import expected_hashes

pytestmark = pytest.mark.slow

SETTLE_S = 120
# Short for the test, so the member runs into several lock timeouts while the lock is held.
TEST_LOCK_TIMEOUT_MS = 1500
# Probes while the lock is held: each must say "not ready"; they span several lock timeouts.
BLOCKED_PROBES = 20
PROBE_INTERVAL_S = 0.4


def test_sessions_have_lock_and_statement_timeouts_and_migrate_has_no_statement_timeout(
    database_url: str,
) -> None:
    member = make_engine(database_url)
    migrating = make_engine(database_url, statement_timeout_ms=None)
    try:
        assert _settings(member) == (
            f"{LOCK_TIMEOUT_MS // 1000}s",
            f"{STATEMENT_TIMEOUT_MS // 60_000}min",
        )
        assert _settings(migrating) == (f"{LOCK_TIMEOUT_MS // 1000}s", "0")
    finally:
        member.dispose()
        migrating.dispose()


def test_a_member_blocked_on_a_row_lock_is_not_ready_and_recovers(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    first = [
        event("locked", "m0", "We decided to ship on Friday.", minute=0),
        event("free", "f0", "I'll call Maria tomorrow.", minute=0),
    ]
    publish(pipeline.bootstrap, pipeline.topic, first)
    env = pipeline.env(CARDWRIGHT_DB_LOCK_TIMEOUT_MS=str(TEST_LOCK_TIMEOUT_MS))
    port = free_port()
    log = tmp_path / "consumer.log"
    consumer = start_with_metrics(env, port, log)
    blocker = pipeline.engine.connect()
    try:
        wait_for(lambda: probe(port, "/readyz")[0] == 200, timeout=SETTLE_S)
        wait_for(lambda: _hashes(pipeline.engine) == expected_hashes(first), timeout=SETTLE_S)

        transaction = blocker.begin()
        blocker.execute(
            select(topics.c.topic_id)
            .where(topics.c.user_id == "u1", topics.c.topic_id == "locked")
            .with_for_update()
        )
        blocked = [event("locked", "m1", "Should we move the launch to March 14?", minute=1)]
        publish(pipeline.bootstrap, pipeline.topic, blocked)
        status, body = wait_for(lambda: _unready(port), timeout=SETTLE_S)
        assert status == 503 and body["partitions"], body
        for _ in range(BLOCKED_PROBES):
            status, body = probe(port, "/readyz")
            assert status == 503, f"ready while blocked on a row lock: {body}"
            time.sleep(PROBE_INTERVAL_S)
        wait_for(lambda: _lock_timeouts(log) >= 2, timeout=SETTLE_S)
        assert total(port, "cardwright_dead_letters_total") == 0
        assert consumer.poll() is None
        transaction.rollback()

        wait_for(lambda: probe(port, "/readyz")[0] == 200, timeout=SETTLE_S)
        everything = first + blocked
        wait_for(lambda: _hashes(pipeline.engine) == expected_hashes(everything), timeout=SETTLE_S)
        wait_for(
            lambda: (
                sum(
                    committed_offsets(
                        pipeline.bootstrap, pipeline.group, pipeline.topic, TEST_TOPIC_PARTITIONS
                    ).values()
                )
                == len(everything)
            ),
            timeout=SETTLE_S,
        )
        assert total(port, "cardwright_dead_letters_total") == 0
        keys = read_state(pipeline.engine).run_keys()
        assert len(keys) == len(set(keys)), "duplicate runs"
    finally:
        blocker.close()
        stop(consumer)
    assert consumer.returncode == 0


def _settings(engine: Engine) -> tuple[str, str]:
    """The session's lock_timeout and statement_timeout, as PostgreSQL shows them."""
    with engine.connect() as c:
        lock = c.execute(text("SHOW lock_timeout")).scalar_one()
        statement = c.execute(text("SHOW statement_timeout")).scalar_one()
    return str(lock), str(statement)


def _unready(port: int) -> tuple[int, dict[str, object]] | None:
    status, body = probe(port, "/readyz")
    return (status, body) if status == 503 else None


def _lock_timeouts(log) -> int:  # type: ignore[no-untyped-def]
    """Log lines of the member naming SQLSTATE 55P03 (lock_not_available): the lock timeout."""
    return sum("55P03" in str(line.get("msg", "")) for line in log_lines(log))


def _hashes(engine: Engine) -> dict[tuple[object, object], object]:
    return {(u, t): h for (u, t, h) in read_state(engine).current}
