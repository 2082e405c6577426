"""`cardwright replay` and `cardwright lag` against a real broker, through the console script.

Committed offsets are read back with a plain consumer, not through the code under test.
Committed offset = next offset to read, as Kafka stores it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.integration

CARDWRIGHT = Path(sys.executable).parent / "cardwright"
PARTITIONS = 4  # the topic_name fixture creates four
PER_PARTITION = 5
# A local broker answers in milliseconds; the margin covers a topic whose partition leaders are
# still being elected and a group's first join (the coordinator may still be loading).
WAIT_S = 30.0
# Recent on purpose: the broker's time retention (7 days by default) deletes a segment whose
# newest timestamp is older, and its check may run between producing and reading.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def cli(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run(
        [str(CARDWRIGHT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def cli_json(bootstrap: str, *args: str) -> dict[str, Any]:
    done = cli(bootstrap, *args, "--json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def produce(bootstrap: str, topic: str, timestamps: dict[int, list[int]] | None = None) -> None:
    """PER_PARTITION records into each partition, with explicit timestamps when given."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for partition in range(PARTITIONS):
        for i in range(PER_PARTITION):
            stamp = timestamps[partition][i] if timestamps else 0
            producer.produce(topic, value=b"{}", key=str(i), partition=partition, timestamp=stamp)
    assert producer.flush(WAIT_S) == 0


def consume_and_commit(bootstrap: str, topic: str, group: str) -> None:
    """Read everything as a member of ``group``, commit, and leave the group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + WAIT_S
    try:
        while seen < PARTITIONS * PER_PARTITION and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                seen += 1
        assert seen == PARTITIONS * PER_PARTITION
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """The group's committed offsets, fetched by a consumer that never joins the group.

    Not AdminClient.list_consumer_group_offsets: librdkafka crashes the process when that call
    meets a NOT_COORDINATOR answer (see consumers/group_admin.py).
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=WAIT_S
        )
    finally:
        consumer.close()
    return {tp.partition: (None if tp.offset < 0 else tp.offset) for tp in found}


@pytest.fixture
def consumed(kafka_bootstrap: str, topic_name: str, group_id: str) -> tuple[str, str, str]:
    """A topic with PER_PARTITION records per partition, read and committed by the group."""
    produce(kafka_bootstrap, topic_name)
    consume_and_commit(kafka_bootstrap, topic_name, group_id)
    return kafka_bootstrap, topic_name, group_id


def group_args(topic: str, group: str) -> list[str]:
    return ["--group", group, "--topic", topic]


def test_lag_counts_every_record_before_a_commit_and_none_after(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    produce(kafka_bootstrap, topic_name)
    before = cli_json(kafka_bootstrap, "lag", *group_args(topic_name, group_id))
    assert [(p["committed"], p["end"], p["lag"]) for p in before["partitions"]] == [
        (None, PER_PARTITION, PER_PARTITION)
    ] * PARTITIONS
    assert before["total_lag"] == PARTITIONS * PER_PARTITION

    consume_and_commit(kafka_bootstrap, topic_name, group_id)
    after = cli_json(kafka_bootstrap, "lag", *group_args(topic_name, group_id))
    assert [(p["committed"], p["lag"]) for p in after["partitions"]] == [
        (PER_PARTITION, 0)
    ] * PARTITIONS
    assert after["total_lag"] == 0

    table = cli(kafka_bootstrap, "lag", *group_args(topic_name, group_id))
    assert table.returncode == 0, table.stderr
    assert "total" in table.stdout


def test_to_earliest_sets_committed_offsets_to_the_log_start(
    consumed: tuple[str, str, str],
) -> None:
    bootstrap, topic, group = consumed
    # Move partition 0's log start to 2, so "earliest" is not just zero.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_records([TopicPartition(topic, 0, 2)])[TopicPartition(topic, 0, 2)].result(WAIT_S)

    plan = cli_json(bootstrap, "replay", *group_args(topic, group), "--to-earliest")
    assert plan["applied"] is True
    assert [(p["current"], p["target"]) for p in plan["partitions"]] == [
        (5, 2),
        (5, 0),
        (5, 0),
        (5, 0),
    ]
    assert committed(bootstrap, group, topic) == {0: 2, 1: 0, 2: 0, 3: 0}
    lag = cli_json(bootstrap, "lag", *group_args(topic, group))
    assert lag["total_lag"] == 3 + 5 * 3


def test_dry_run_shows_the_plan_and_changes_nothing(consumed: tuple[str, str, str]) -> None:
    bootstrap, topic, group = consumed
    plan = cli_json(bootstrap, "replay", *group_args(topic, group), "--to-earliest", "--dry-run")
    assert plan["applied"] is False
    assert [p["target"] for p in plan["partitions"]] == [0] * PARTITIONS
    assert committed(bootstrap, group, topic) == dict.fromkeys(range(PARTITIONS), PER_PARTITION)

    table = cli(bootstrap, "replay", *group_args(topic, group), "--to-latest", "--dry-run")
    assert table.returncode == 0, table.stderr
    assert "dry run: nothing applied" in table.stdout


def test_to_offset_moves_only_the_named_partitions_and_clamps_to_the_log(
    consumed: tuple[str, str, str],
) -> None:
    bootstrap, topic, group = consumed
    plan = cli_json(bootstrap, "replay", *group_args(topic, group), "--to-offset", "0:1,2:99")
    assert [(p["partition"], p["target"]) for p in plan["partitions"]] == [(0, 1), (2, 5)]
    assert "past the end" in plan["partitions"][1]["note"]
    assert committed(bootstrap, group, topic) == {0: 1, 1: 5, 2: 5, 3: 5}


def test_to_offset_rejects_unknown_partitions_and_negative_values(
    consumed: tuple[str, str, str],
) -> None:
    bootstrap, topic, group = consumed
    for spec in ("7:1", "0:-1", "0=1"):
        done = cli(bootstrap, "replay", *group_args(topic, group), "--to-offset", spec)
        assert done.returncode == 2, (spec, done.stderr)
        assert "--to-offset" in done.stderr
    assert committed(bootstrap, group, topic) == dict.fromkeys(range(PARTITIONS), PER_PARTITION)


def test_shift_by_moves_from_the_committed_offset_and_clamps_at_the_start(
    consumed: tuple[str, str, str],
) -> None:
    bootstrap, topic, group = consumed
    cli_json(bootstrap, "replay", *group_args(topic, group), "--shift-by", "-2")
    assert committed(bootstrap, group, topic) == dict.fromkeys(range(PARTITIONS), 3)
    plan = cli_json(bootstrap, "replay", *group_args(topic, group), "--shift-by=-10")
    assert [p["target"] for p in plan["partitions"]] == [0] * PARTITIONS
    assert committed(bootstrap, group, topic) == dict.fromkeys(range(PARTITIONS), 0)


def test_shift_by_is_refused_where_the_group_never_committed(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    produce(kafka_bootstrap, topic_name)
    done = cli(kafka_bootstrap, "replay", *group_args(topic_name, group_id), "--shift-by", "1")
    assert done.returncode == 1
    assert "no committed offset" in done.stderr
    assert committed(kafka_bootstrap, group_id, topic_name) == dict.fromkeys(range(PARTITIONS))


def test_to_datetime_picks_the_first_offset_at_or_after_the_time(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    # Partitions 0-2: one record a second from BASE. Partition 3: all a day earlier, so it has
    # no record after the time and goes to its end.
    stamps = {
        p: [millis(BASE + timedelta(seconds=i)) for i in range(PER_PARTITION)] for p in (0, 1, 2)
    }
    stamps[3] = [millis(BASE - timedelta(days=1)) + i for i in range(PER_PARTITION)]
    produce(kafka_bootstrap, topic_name, stamps)
    consume_and_commit(kafka_bootstrap, topic_name, group_id)

    # Exactly the third record's time, written in another timezone: "at" counts.
    at = (BASE + timedelta(seconds=2)).astimezone(timezone(timedelta(hours=2))).isoformat()
    plan = cli_json(
        kafka_bootstrap, "replay", *group_args(topic_name, group_id), "--to-datetime", at
    )
    assert [p["target"] for p in plan["partitions"]] == [2, 2, 2, PER_PARTITION]
    assert committed(kafka_bootstrap, group_id, topic_name) == {0: 2, 1: 2, 2: 2, 3: 5}

    # Half a second later, the next record is the first after it.
    later = (BASE + timedelta(seconds=2, milliseconds=500)).isoformat()
    cli_json(kafka_bootstrap, "replay", *group_args(topic_name, group_id), "--to-datetime", later)
    assert committed(kafka_bootstrap, group_id, topic_name) == {0: 3, 1: 3, 2: 3, 3: 5}

    naive = cli(
        kafka_bootstrap,
        "replay",
        *group_args(topic_name, group_id),
        "--to-datetime",
        "2024-05-01T12:00:00",
    )
    assert naive.returncode == 2
    assert "timezone" in naive.stderr


class ActiveMember:
    """A consumer of the group, subscribed and polling in a background thread."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.client_id = f"replay-test-member-{group}"
        self._config = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": self.client_id,
            "enable.auto.commit": False,
        }
        self._topic = topic
        self.assigned = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        consumer = Consumer(self._config)
        consumer.subscribe([self._topic], on_assign=lambda c, parts: self.assigned.set())
        try:
            while not self._stop.is_set():
                consumer.poll(0.2)
        finally:
            consumer.close()  # leaves the group, which becomes EMPTY

    def __enter__(self) -> ActiveMember:
        self._thread.start()
        assert self.assigned.wait(WAIT_S), "the member never got an assignment"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)


def test_replay_is_refused_while_the_group_has_an_active_member(
    consumed: tuple[str, str, str],
) -> None:
    bootstrap, topic, group = consumed
    with ActiveMember(bootstrap, topic, group) as member:
        done = cli(bootstrap, "replay", *group_args(topic, group), "--to-earliest")
        assert done.returncode == 1
        assert "active member" in done.stderr
        assert member.client_id in done.stderr
        assert "EMPTY or DEAD" in done.stderr
        assert done.stdout == ""
        assert committed(bootstrap, group, topic) == dict.fromkeys(range(PARTITIONS), PER_PARTITION)

        # Planning is allowed while it runs, and says so.
        plan = cli(bootstrap, "replay", *group_args(topic, group), "--to-earliest", "--dry-run")
        assert plan.returncode == 0, plan.stderr
        assert "stop them before applying" in plan.stdout

    cli_json(bootstrap, "replay", *group_args(topic, group), "--to-earliest")
    assert committed(bootstrap, group, topic) == dict.fromkeys(range(PARTITIONS), 0)


def test_replay_needs_exactly_one_mode(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    for modes in ([], ["--to-earliest", "--to-latest"], ["--to-latest", "--shift-by", "1"]):
        done = cli(kafka_bootstrap, "replay", *group_args(topic_name, group_id), *modes)
        assert done.returncode == 2, (modes, done.stderr)
        assert "exactly one mode" in done.stderr


def test_an_unknown_topic_is_a_clear_error(kafka_bootstrap: str, group_id: str) -> None:
    done = cli(kafka_bootstrap, "lag", "--group", group_id, "--topic", "no-such-topic-here")
    assert done.returncode == 1
    assert "does not exist" in done.stderr
