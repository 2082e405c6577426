"""Publishing against a real broker: partitions agree with Java, and the CLI's promises hold."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from cardwright.producers.partitioner import partition_for
from cardwright.producers.publisher import Publisher
from cardwright.producers.topics import ensure_topics
from cardwright.schema.events import MessageEvent
from tests.unit.test_jsonl import event, line

pytestmark = pytest.mark.integration

CARDWRIGHT = Path(sys.executable).parent / "cardwright"
# Reading back a handful of records from a local broker takes well under a second; the margin
# covers a broker that is still electing partition leaders for a topic just created.
READ_TIMEOUT_S = 30.0


def partition_count(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "metadata-only"})
    try:
        return len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    finally:
        consumer.close()


def read_all(
    bootstrap: str, topic: str, group_id: str, expected: int
) -> list[tuple[bytes | None, bytes, int]]:
    """Every record of ``topic`` from the beginning, as (key, value, partition)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False}
    )
    partitions = partition_count(bootstrap, topic)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    records: list[tuple[bytes | None, bytes, int]] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    try:
        while len(records) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            key, value, partition = msg.key(), msg.value(), msg.partition()
            # No deserializer: keys and values are raw bytes, and a read record has a partition.
            assert not isinstance(key, str) and isinstance(value, bytes) and partition is not None
            records.append((key, value, partition))
    finally:
        consumer.close()
    return records


def test_a_keyed_record_lands_in_the_partition_javas_partitioner_picks(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    keys = [b"21", b"foobar", b"abc", b"kafka", "th\u00e8me-\u4e3b\u9898".encode()]
    keys += [f"topic-{i}".encode() for i in range(40)]
    publisher = Publisher({"bootstrap.servers": kafka_bootstrap}, topic_name)
    for key in keys:
        publisher.publish_raw(key, b"{}")
    assert publisher.flush(30).delivered == len(keys)

    partitions = partition_count(kafka_bootstrap, topic_name)
    landed = {key: p for key, _, p in read_all(kafka_bootstrap, topic_name, group_id, len(keys))}
    assert landed == {key: partition_for(key, partitions) for key in keys}
    assert len(set(landed.values())) == partitions  # 45 keys reach every partition


def test_an_event_is_published_as_its_json_keyed_by_topic_id(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    published = MessageEvent.model_validate(event(topic_id="t-42"))
    publisher = Publisher({"bootstrap.servers": kafka_bootstrap}, topic_name)
    publisher.publish(published)
    publisher.flush(30)
    [(key, value, partition)] = read_all(kafka_bootstrap, topic_name, group_id, 1)
    assert key == b"t-42"
    assert MessageEvent.model_validate(orjson.loads(value)) == published
    assert partition == partition_for(b"t-42", partition_count(kafka_bootstrap, topic_name))


def test_ensure_topics_creates_once_and_then_leaves_topics_alone(
    kafka_bootstrap: str, topic_name: str
) -> None:
    fresh = f"{topic_name}-ensure"
    created = ensure_topics(kafka_bootstrap, fresh, 3, f"{fresh}.dlq")
    assert sorted(created) == [fresh, f"{fresh}.dlq"]
    assert ensure_topics(kafka_bootstrap, fresh, 5, f"{fresh}.dlq") == []
    assert partition_count(kafka_bootstrap, fresh) == 3


def run_publish(kafka_bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    return subprocess.run(
        [str(CARDWRIGHT), "publish", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_publish_cli_reports_the_bad_line_and_publishes_the_rest(
    kafka_bootstrap: str, topic_name: str, group_id: str, tmp_path: Path
) -> None:
    source = tmp_path / "events.jsonl"
    topics = ["alpha", "beta", "gamma"]
    source.write_bytes(
        line(topic_id=topics[0], message_id="m1")
        + line(topic_id=topics[1], message_id="m2")
        + b'{"schema_version": 1, "op": \n'
        + b"\n"
        + line(topic_id=topics[2], message_id="m3")
    )
    done = run_publish(
        kafka_bootstrap, str(source), "--topic", topic_name, "--no-create-topic", "--json"
    )
    assert done.returncode == 1, done.stderr
    assert "line 3: invalid_json: " in done.stderr
    summary = orjson.loads(done.stdout)
    assert (summary["published"], summary["invalid"], summary["failed"]) == (3, 1, 0)

    records = read_all(kafka_bootstrap, topic_name, group_id, 3)
    partitions = partition_count(kafka_bootstrap, topic_name)
    assert sorted(key or b"" for key, _, _ in records) == [t.encode() for t in topics]
    for key, value, partition in records:
        assert key is not None
        assert MessageEvent.model_validate(orjson.loads(value)).topic_id == key.decode()
        assert partition == partition_for(key, partitions)


def test_publish_cli_raw_sends_bad_lines_unchanged(
    kafka_bootstrap: str, topic_name: str, group_id: str, tmp_path: Path
) -> None:
    source = tmp_path / "raw.jsonl"
    source.write_bytes(b'{"topic_id": "t9", "schema_version": 7}\n{oops\n')
    done = run_publish(kafka_bootstrap, str(source), "--topic", topic_name, "--raw")
    assert done.returncode == 0, done.stderr
    assert "published 2, invalid 0, failed 0" in done.stderr
    records = read_all(kafka_bootstrap, topic_name, group_id, 2)
    assert {value: key for key, value, _ in records} == {
        b'{"topic_id": "t9", "schema_version": 7}': b"t9",
        b"{oops": None,
    }


@pytest.mark.slow
def test_publish_cli_fails_clearly_when_kafka_is_unreachable(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(line())
    done = run_publish("127.0.0.1:1", str(source), "--topic", "unreachable")
    assert done.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in done.stderr
