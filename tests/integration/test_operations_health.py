"""Readiness follows PostgreSQL: false while it is stopped, true again once it is back, with
the same consumer process running throughout and nothing lost.

The test runs its own PostgreSQL cluster (the native stack's module, on a free port), so
stopping it disturbs no other test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cardwright.schema.errors import ConfigurationError
from cardwright.stack import native_postgres
from cardwright.stack.config import StackConfig, default_cache_dir
from cardwright.stack.procs import free_port
from cardwright.storage.engine import make_engine
from cardwright.storage.migrate import upgrade
from tests.integration.operations_support import probe, sample, start_with_metrics
from tests.integration.support import consumer_env, event, publish, read_state, stop, wait_for
from tests.integration.workload import conversation_events, expected_hashes

pytestmark = pytest.mark.slow

# Readiness re-probes the database at most every 5 s; the worker notices on its next write.
PROBE_S = 60
SETTLE_S = 120


@pytest.fixture
def own_postgres(stack_state_dir: Path) -> Iterator[StackConfig]:
    try:
        native_postgres.find_bindir()
    except ConfigurationError as exc:
        pytest.skip(f"no PostgreSQL server programs for a dedicated cluster: {exc}")
    config = StackConfig(
        state_dir=stack_state_dir,
        kafka_port=free_port(),
        controller_port=free_port(),
        postgres_port=free_port(),
        cache_dir=Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ)),
    )
    try:
        native_postgres.start(config)
        native_postgres.wait_ready(config)
        yield config
    finally:
        native_postgres.stop(config)


def test_readiness_is_false_while_postgres_is_down_and_nothing_is_lost(
    own_postgres: StackConfig, kafka_bootstrap: str, topic_name: str, group_id: str, tmp_path: Path
) -> None:
    engine = make_engine(own_postgres.database_url)
    upgrade(engine)
    env = consumer_env(kafka_bootstrap, own_postgres.database_url, topic_name, group_id)
    before_outage = conversation_events(seed=31, users=1)
    publish(kafka_bootstrap, topic_name, before_outage)
    port = free_port()
    consumer = start_with_metrics(env, port, tmp_path / "consumer.log")
    try:
        wait_for(lambda: probe(port, "/readyz")[0] == 200, timeout=SETTLE_S)
        wait_for(
            lambda: sample(port, "cardwright_events_consumed_total") == len(before_outage),
            timeout=SETTLE_S,
        )

        engine.dispose()  # no pooled connection of ours dies with the server
        native_postgres.stop(own_postgres)
        during_outage = [
            event("outage-topic", "o1", "We decided to ship on Friday.", user="user-9"),
            event(
                "topic-0",
                "topic-0-m0",
                "I'll call Maria tomorrow.",
                user="user-0",
                conversation="conv-0",
                revision=5,
            ),
        ]
        publish(kafka_bootstrap, topic_name, during_outage)
        status, body = wait_for(lambda: _unready(port), timeout=PROBE_S)
        assert status == 503 and body["database"] is False
        assert probe(port, "/livez")[0] == 200, "the poll loop must keep turning"
        wait_for(lambda: sample(port, "cardwright_database_available") == 0, timeout=PROBE_S)
        assert consumer.poll() is None

        native_postgres.start(own_postgres)
        native_postgres.wait_ready(own_postgres)
        wait_for(lambda: probe(port, "/readyz")[0] == 200, timeout=PROBE_S)
        assert sample(port, "cardwright_database_available") == 1
        everything = before_outage + during_outage
        expected = expected_hashes(everything)
        wait_for(lambda: _current_hashes(engine) == expected, timeout=SETTLE_S)
        assert consumer.poll() is None, "the same process rode out the outage"
        keys = read_state(engine).run_keys()
        assert len(keys) == len(set(keys)), "duplicate runs"
    finally:
        stop(consumer)
        engine.dispose()
    assert consumer.returncode == 0


def _unready(port: int) -> tuple[int, dict[str, object]] | None:
    status, body = probe(port, "/readyz")
    return (status, body) if status == 503 else None


def _current_hashes(engine: Engine) -> dict[tuple[object, object], object]:
    try:
        return {(u, t): h for (u, t, h) in read_state(engine).current}
    except Exception:  # the cluster is still starting
        return {}
