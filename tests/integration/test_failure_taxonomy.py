"""Failures land in their class (docs/design.md, "Failures: four classes, one place each"):
a misconfigured database (read-only, a privilege revoked) dead-letters nothing and moves no
offset, contention is retried, output the database refuses is a topic's recorded failure, and the
DLQ takes any record it is given.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from cardwright.consumers.dlq import DeadLetters
from cardwright.consumers.ingest import BatchIngest
from cardwright.extractors.rules import RulesExtractor
from cardwright.producers.topics import (
    DEFAULT_EVENTS_MAX_MESSAGE_BYTES,
    DLQ_HEADER_MARGIN_BYTES,
    ensure_topics,
)
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.schema.source_hash import source_hash
from cardwright.settings import Settings
from cardwright.stack.procs import free_port
from cardwright.storage.engine import make_engine
from cardwright.storage.queries import cards_by_topic
from cardwright.storage.replace import read_snapshot
from cardwright.storage.tables import extract_failures, messages
from cardwright.wiring import build_worker
from tests.conftest import Services
from tests.integration.conftest import Pipeline
from tests.integration.operations_support import log_lines, probe, start_with_metrics
from tests.integration.storage_support import as_card_tuples, expected_cards
from tests.integration.support import (
    CONSUMER_TIMEOUT_S,
    TEST_DEBOUNCE_MS,
    committed_offsets,
    consume_until_idle,
    consumer_env,
    event,
    publish,
    stop,
    wait_for,
)
from tests.integration.test_dead_letters import read_dlq
from tests.member_role import create_role, grant_member, privilege

pytestmark = pytest.mark.slow

# The member retries a misconfigured database with backoff capped at 30 s.
RECOVERY_S = 90


def _alter_database(admin_url: str, url: str, setting: str) -> None:
    """ALTER DATABASE from another database: a read-only default would refuse its own undo."""
    target = make_url(url)
    assert target.database is not None
    admin = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET " + setting).format(sql.Identifier(target.database))
        )


def test_a_read_only_database_dead_letters_nothing_moves_no_offset_and_resumes_once_fixed(
    services: Services, pipeline: Pipeline, tmp_path: Path
) -> None:
    _alter_database(
        services.admin_database_url, pipeline.database_url, "default_transaction_read_only = on"
    )
    pipeline.engine.dispose()
    valid = [event("ro", f"m{i}", f"We decided to ship item {i}.", minute=i) for i in range(5)]
    publish(pipeline.bootstrap, pipeline.topic, valid)
    port = free_port()
    log = tmp_path / "consumer.log"
    consumer = start_with_metrics(pipeline.env(), port, log)
    try:
        status, body = wait_for(lambda: _unready_for_configuration(port), timeout=RECOVERY_S)
        assert status == 503
        assert body["configuration"] == (
            "database is read-only (SQLSTATE 25006): point CARDWRIGHT_DATABASE_URL at the primary"
        )
        assert probe(port, "/livez")[0] == 200, "paused, not stuck"
        assert committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4) == {}
        assert read_dlq(pipeline.bootstrap, pipeline.dlq, expected=0, timeout=1) == []

        _alter_database(
            services.admin_database_url,
            pipeline.database_url,
            "default_transaction_read_only = off",
        )
        wait_for(lambda: probe(port, "/readyz")[0] == 200, timeout=RECOVERY_S)
        wait_for(
            lambda: (
                sum(
                    committed_offsets(
                        pipeline.bootstrap, pipeline.group, pipeline.topic, 4
                    ).values()
                )
                == len(valid)
            ),
            timeout=RECOVERY_S,
        )
        with pipeline.engine.connect() as c:
            assert c.execute(select(func.count()).select_from(messages)).scalar_one() == 5
    finally:
        stop(consumer)
    assert read_dlq(pipeline.bootstrap, pipeline.dlq, expected=0, timeout=1) == []
    lines = [line for line in log_lines(log) if "SQLSTATE 25006" in str(line.get("msg"))]
    assert len(lines) == 1, "one line naming the fix, not one per retry"


def _unready_for_configuration(port: int) -> tuple[int, dict[str, object]] | None:
    status, body = probe(port, "/readyz")
    return (status, body) if status == 503 and "configuration" in body else None


def test_consume_refuses_an_unmigrated_database_with_one_line_and_exit_2(
    kafka_bootstrap: str, database_url: str, topic_name: str, group_id: str
) -> None:
    publish(kafka_bootstrap, topic_name, [event("t", "m1", "We decided to use PostgreSQL.")])
    result = subprocess.run(
        [sys.executable, "-m", "cardwright", "consume", "--until-idle", "2"],
        env=consumer_env(kafka_bootstrap, database_url, topic_name, group_id),
        capture_output=True,
        text=True,
        timeout=CONSUMER_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "cardwright: database schema is not migrated: run `cardwright migrate`"
    )
    assert committed_offsets(kafka_bootstrap, group_id, topic_name, 4) == {}
    assert read_dlq(kafka_bootstrap, f"{topic_name}.dlq", expected=0, timeout=1) == []


@dataclass
class Record:
    """Stands in for a confluent ``Message`` (which cannot be built in Python): this test is
    about PostgreSQL, the records never touch Kafka."""

    _value: bytes
    _offset: int

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"locked"

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


def test_a_batch_that_hits_a_lock_timeout_is_retried_in_place_not_dead_lettered(
    services: Services, pipeline: Pipeline
) -> None:
    _alter_database(services.admin_database_url, pipeline.database_url, "lock_timeout = '100ms'")
    pipeline.engine.dispose()
    locker = psycopg.connect(
        make_url(pipeline.database_url).set(drivername="postgresql").render_as_string(False)
    )
    locker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
    released = threading.Event()

    def sleep(_seconds: float) -> None:  # the first backoff releases the lock
        if not released.is_set():
            locker.commit()
            released.set()

    engine = make_engine(pipeline.database_url)
    dead_letters = DeadLetters({"bootstrap.servers": pipeline.bootstrap}, pipeline.dlq, "t")
    ingest = BatchIngest(engine, dead_letters, RulesExtractor().extractor_id, sleep=sleep)
    records = [
        Record(event("locked", f"m{i}", f"Note {i}.", minute=i).to_json_bytes(), i)
        for i in range(3)
    ]
    try:
        result = ingest.ingest(records)  # type: ignore[arg-type]
    finally:
        locker.close()
        engine.dispose()
    assert released.is_set(), "the first attempt met the lock"
    assert result.dead == [] and len(result.applied) == 3


class NulTitleForOneTopic:
    """The rules extractor, except that one topic's cards get a title PostgreSQL text refuses
    (a NUL character): a plug-in extractor's output the database refuses."""

    def __init__(self, topic_id: str) -> None:
        self._rules = RulesExtractor()
        self._topic_id = topic_id

    @property
    def extractor_id(self) -> str:
        return self._rules.extractor_id

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        drafts = self._rules.extract(snapshot)
        if snapshot.topic_id != self._topic_id:
            return drafts
        return [d.model_copy(update={"title": d.title + "\x00"}) for d in drafts]


def test_extractor_output_the_database_refuses_is_a_recorded_failure_and_the_partition_flows(
    pipeline: Pipeline,
) -> None:
    first = [event("nul", "n1", "I'll send the draft to Alice on Friday.")]
    publish(pipeline.bootstrap, pipeline.topic, first)
    consume_until_idle(pipeline.env())
    before = cards_by_topic(pipeline.engine, "u1", "nul")
    assert before is not None and before.cards

    later = [
        event("nul", "n2", "Should we move the launch to March 14?", minute=1),
        event("fine", "f1", "We decided to use PostgreSQL.", minute=1, conversation="c2"),
    ]
    publish(pipeline.bootstrap, pipeline.topic, later)
    settings = Settings(
        kafka_bootstrap_servers=pipeline.bootstrap,
        database_url=pipeline.database_url,
        events_topic=pipeline.topic,
        group_id=pipeline.group,
        debounce_ms=TEST_DEBOUNCE_MS,
        extract_attempts=2,
    )
    worker = build_worker(settings, extractor=NulTitleForOneTopic("nul"))
    worker.run(until_idle_s=2)

    with pipeline.engine.connect() as c:
        failures = c.execute(
            select(
                extract_failures.c.topic_id, extract_failures.c.attempts, extract_failures.c.error
            )
        ).all()
    assert [(f.topic_id, f.attempts) for f in failures] == [("nul", 2)]
    assert "database refused the cards" in failures[0].error
    after = cards_by_topic(pipeline.engine, "u1", "nul")
    assert after is not None and after.cards == before.cards and after.run_id == before.run_id
    fine = cards_by_topic(pipeline.engine, "u1", "fine")
    assert fine is not None and fine.cards
    ends = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)
    assert sum(ends.values()) == len(first) + len(later)  # the partition moved on


# Just under what a topic with Kafka's default config accepts: the largest events record.
NEARLY_MAX_BYTES = DEFAULT_EVENTS_MAX_MESSAGE_BYTES - 8 * 1024


def test_a_bad_record_of_nearly_the_max_size_reaches_the_dlq_and_the_partition_flows(
    pipeline: Pipeline,
) -> None:
    key = b"big"
    before = event("big", "b1", "We decided to use PostgreSQL.")
    after = event("big", "b2", "Remember to ask Tom about the budget.", minute=1)
    bad = b"{" + b"x" * (NEARLY_MAX_BYTES - 1)  # invalid JSON
    producer = Producer(
        {"bootstrap.servers": pipeline.bootstrap, "message.max.bytes": 2 * NEARLY_MAX_BYTES}
    )
    for value in (before.to_json_bytes(), bad, after.to_json_bytes()):
        producer.produce(pipeline.topic, key=key, value=value, partition=0)
    assert producer.flush(30) == 0
    consume_until_idle(pipeline.env())

    [copy] = read_dlq(pipeline.bootstrap, pipeline.dlq, expected=1)
    headers = dict(copy.headers())
    assert headers["cardwright.reason"] == b"invalid_json"
    assert copy.key() == key
    if "cardwright.truncated" in headers:  # the test topic's DLQ has Kafka's default size
        assert int(headers["cardwright.original.size"]) == len(bad)
        assert headers["cardwright.original.sha256"].decode() == hashlib.sha256(bad).hexdigest()
        assert bad.startswith(copy.value())
    else:
        assert copy.value() == bad
    assert committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4) == {0: 3}
    with pipeline.engine.connect() as c:
        stored = c.execute(select(messages.c.message_id).order_by(messages.c.message_id)).all()
    assert [m for (m,) in stored] == ["b1", "b2"]


def test_the_dlq_topic_is_created_with_room_for_the_largest_events_record(
    kafka_bootstrap: str,
) -> None:
    name = f"t-dlq-room-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    try:
        ensure_topics(kafka_bootstrap, name, 1, f"{name}.dlq")
        resource = ConfigResource(ResourceType.TOPIC, f"{name}.dlq")
        config = admin.describe_configs([resource])[resource].result(timeout=30)
        assert int(config["max.message.bytes"].value) == (
            DEFAULT_EVENTS_MAX_MESSAGE_BYTES + DLQ_HEADER_MARGIN_BYTES
        )
    finally:
        # Best effort: a leftover topic costs a little disk, never a wrong result.
        for future in admin.delete_topics([name, f"{name}.dlq"]).values():
            with contextlib.suppress(Exception):
                future.result(timeout=30)


@contextlib.contextmanager
def _member_role(admin_url: str, database_url: str) -> Iterator[str]:
    """A login role granted exactly what a member needs (tests/member_role.py) on the test's
    database; yields the database URL as that role, and drops the role afterwards."""
    role = f"cw_member_{uuid.uuid4().hex[:8]}"
    target = make_url(database_url)
    assert target.database is not None
    owner = target.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        create_role(conn, role)
    try:
        with psycopg.connect(owner, autocommit=True) as conn:
            grant_member(conn, target.database, role)
        yield target.set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_revoked_permission_pauses_the_member_dead_letters_nothing_and_resumes_once_granted(
    services: Services, pipeline: Pipeline, tmp_path: Path
) -> None:
    valid = [event("perm", f"m{i}", f"We decided to ship item {i}.", minute=i) for i in range(5)]
    with (
        _member_role(services.admin_database_url, pipeline.database_url) as member_url,
        psycopg.connect(
            make_url(pipeline.database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False),
            autocommit=True,
        ) as owner,
    ):
        role = make_url(member_url).username
        assert role is not None
        # The member persists the events, then cannot store their cards.
        privilege(owner, False, "INSERT", "cards", role)
        publish(pipeline.bootstrap, pipeline.topic, valid)
        port = free_port()
        log = tmp_path / "consumer.log"
        consumer = start_with_metrics(pipeline.env(CARDWRIGHT_DATABASE_URL=member_url), port, log)
        try:
            status, body = wait_for(lambda: _unready_for_configuration(port), timeout=RECOVERY_S)
            assert status == 503
            assert "SQLSTATE 42501" in str(body["configuration"])
            assert "grant" in str(body["configuration"])
            assert probe(port, "/livez")[0] == 200, "paused, not stuck"
            committed = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)
            assert sum(committed.values()) == 0, "no offset past the events without cards"
            before = cards_by_topic(pipeline.engine, "u1", "perm")
            assert before is None or before.cards == [], "no cards without the privilege"

            privilege(owner, True, "INSERT", "cards", role)
            wait_for(lambda: probe(port, "/readyz")[0] == 200, timeout=RECOVERY_S)
            wait_for(
                lambda: (
                    sum(
                        committed_offsets(
                            pipeline.bootstrap, pipeline.group, pipeline.topic, 4
                        ).values()
                    )
                    == len(valid)
                ),
                timeout=RECOVERY_S,
            )
        finally:
            stop(consumer)
    assert read_dlq(pipeline.bootstrap, pipeline.dlq, expected=0, timeout=1) == []
    stored = read_snapshot(pipeline.engine, "u1", "perm")
    assert stored is not None and len(stored.snapshot.messages) == len(valid)
    rules = RulesExtractor()
    digest = source_hash(rules.extractor_id, stored.snapshot.messages)
    got = cards_by_topic(pipeline.engine, "u1", "perm")
    assert got is not None and got.source_hash == digest
    want = expected_cards(stored.snapshot, digest, rules.extract(stored.snapshot))
    assert as_card_tuples(got.cards) == want
    lines = [line for line in log_lines(log) if "SQLSTATE 42501" in str(line.get("msg"))]
    assert len(lines) == 1, "one line naming the fix, not one per retry"
