"""The test harness: real Kafka and PostgreSQL for integration tests, nothing for unit tests.

Where the services come from, in order:
  1. CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS and CARDWRIGHT_DATABASE_URL, when both are set
     (scripts/test sets them from `cardwright stack up`);
  2. testcontainers, when a Docker engine answers;
  3. the native stack (cardwright.stack.native), started once per session in its own state
     directory on free ports, and stopped at the end.
Each test gets its own database, Kafka topic (+ DLQ topic) and consumer group, so tests never
see each other's data. Fixtures are lazy: a unit test that asks for none touches no service.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

INTEGRATION_DIR = Path(__file__).parent / "integration"
UNIT_DIR = Path(__file__).parent / "unit"
# The fixtures that start or talk to Kafka or PostgreSQL.
SERVICE_FIXTURES = frozenset(
    {"services", "kafka_bootstrap", "kafka_admin", "database_url", "topic_name"}
)

# Partitions of each test's events topic: more than one, so tests see several partitions and
# rebalances move something, few enough to create quickly.
TEST_TOPIC_PARTITIONS = 4
# Topic creation and metadata propagation on a single local broker take well under a second;
# the margin covers a machine busy with the rest of the suite.
TOPIC_READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Services:
    bootstrap: str
    admin_database_url: str  # SQLAlchemy form, postgresql+psycopg://; may create databases


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an integration test (`-m "not integration"`);
    a test under tests/unit that asks for a service is a mistake, reported before anything runs."""
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)
        elif UNIT_DIR in item.path.parents:
            used = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if used:
                raise pytest.UsageError(
                    f"{item.nodeid} is a unit test but uses {', '.join(sorted(used))}: "
                    "unit tests run without services; move it to tests/integration"
                )


def _from_environment() -> Services | None:
    bootstrap = os.environ.get("CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS")
    database_url = os.environ.get("CARDWRIGHT_DATABASE_URL")
    if bootstrap and database_url:
        return Services(bootstrap=bootstrap, admin_database_url=database_url)
    return None


@contextlib.contextmanager
def _containers() -> Iterator[Services]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    kafka = (
        KafkaContainer("confluentinc/cp-kafka:7.9.0")
        .with_kraft()
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        .with_env("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", "1000")
    )
    postgres = PostgresContainer("postgres:17", driver="psycopg").with_command(
        "postgres -c max_connections=300 -c fsync=off"
    )
    with kafka, postgres:
        yield Services(
            bootstrap=kafka.get_bootstrap_server(),
            admin_database_url=postgres.get_connection_url(),
        )


# Test stacks live under /var/tmp, not pytest's tmp_path: when we are root, PostgreSQL runs as
# the postgres user, which cannot enter /tmp/pytest-of-root (mode 700).
TEST_STACK_ROOT = Path("/var/tmp")
TEST_STACK_PREFIX = "cardwright-test-stack-"
OWNER_FILE = "owner.pid"


def _stack_config(state_dir: Path) -> Any:
    from cardwright.stack.config import StackConfig, default_cache_dir
    from cardwright.stack.procs import free_port

    return StackConfig(
        state_dir=state_dir,
        kafka_port=free_port(),
        controller_port=free_port(),
        postgres_port=free_port(),
        cache_dir=Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ)),
    )


def reap_orphaned_test_stacks() -> None:
    """Stop and delete test stacks whose pytest process is gone (killed by a timeout, say)."""
    from cardwright.stack import native
    from cardwright.stack.procs import read_pid

    for owner_file in TEST_STACK_ROOT.glob(f"{TEST_STACK_PREFIX}*/{OWNER_FILE}"):
        owner = read_pid(owner_file)
        state_dir = owner_file.parent
        if owner is not None and Path(f"/proc/{owner}").exists():
            continue
        if state_dir.stat().st_uid != os.geteuid():
            continue
        native.down(_stack_config(state_dir))
        shutil.rmtree(state_dir, ignore_errors=True)


def make_test_state_dir() -> Path:
    """A new state directory for a stack owned by this test session."""
    state_dir = Path(tempfile.mkdtemp(prefix=TEST_STACK_PREFIX, dir=TEST_STACK_ROOT))
    state_dir.chmod(0o755)
    (state_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
    return state_dir


@pytest.fixture
def stack_state_dir() -> Iterator[Path]:
    """A state directory for a test that runs a stack of its own; deleted afterwards."""
    state_dir = make_test_state_dir()
    try:
        yield state_dir
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@contextlib.contextmanager
def _native_stack() -> Iterator[Services]:
    from cardwright.stack import native

    reap_orphaned_test_stacks()
    config = _stack_config(make_test_state_dir())
    try:
        native.up(config)
        yield Services(bootstrap=config.bootstrap, admin_database_url=config.database_url)
    finally:
        native.down(config)
        shutil.rmtree(config.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """Kafka and PostgreSQL for this test session (see the module docstring for where from)."""
    found = _from_environment()
    if found is not None:
        yield found
        return
    from cardwright.stack.compose import docker_answers

    source = _containers() if docker_answers() else _native_stack()
    with source as started:
        yield started


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Services) -> str:
    return services.bootstrap


def _slug(request: pytest.FixtureRequest) -> str:
    """The test's name, shortened to characters every Kafka and PostgreSQL name accepts."""
    return re.sub(r"[^a-zA-Z0-9-]+", "-", request.node.name).strip("-")[:40]


def _psycopg_url(sqlalchemy_url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def database_url(services: Services) -> Iterator[str]:
    """A fresh, empty database for this test (SQLAlchemy URL); dropped afterwards."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"cw_{uuid.uuid4().hex[:16]}"
    admin = _psycopg_url(services.admin_database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(services.admin_database_url).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            # FORCE: a pool the test left open must not keep the database alive.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka_bootstrap})


def _wait_for_leaders(admin: Any, topics: dict[str, int]) -> None:
    deadline = time.monotonic() + TOPIC_READY_TIMEOUT_S
    while True:
        metadata = admin.list_topics(timeout=5)
        ready = all(
            name in metadata.topics
            and metadata.topics[name].error is None
            and len(metadata.topics[name].partitions) == count
            and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
            for name, count in topics.items()
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {sorted(topics)} have no leaders after creation")
        time.sleep(0.1)


@pytest.fixture
def topic_name(kafka_admin: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new topic with 4 partitions and its `<name>.dlq` topic with 1; deleted afterwards."""
    from confluent_kafka.cimpl import NewTopic

    name = f"t-{_slug(request)}-{uuid.uuid4().hex[:8]}"
    topics = {name: TEST_TOPIC_PARTITIONS, f"{name}.dlq": 1}
    futures = kafka_admin.create_topics(
        [NewTopic(t, num_partitions=n, replication_factor=1) for t, n in topics.items()],
        operation_timeout=TOPIC_READY_TIMEOUT_S,
    )
    for future in futures.values():
        future.result(timeout=TOPIC_READY_TIMEOUT_S)
    _wait_for_leaders(kafka_admin, topics)
    try:
        yield name
    finally:
        # Best effort: a leftover topic costs a little disk, never a wrong result.
        deleted = kafka_admin.delete_topics(list(topics), operation_timeout=TOPIC_READY_TIMEOUT_S)
        for future in deleted.values():
            with contextlib.suppress(Exception):
                future.result(timeout=TOPIC_READY_TIMEOUT_S)


@pytest.fixture
def group_id(request: pytest.FixtureRequest) -> str:
    """A consumer group id no other test uses."""
    return f"g-{_slug(request)}-{uuid.uuid4().hex[:8]}"
