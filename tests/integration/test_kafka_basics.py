"""Kafka behaviour the pipeline relies on, checked against the real broker.

cardwright commits offsets only by hand, after the work below them is durable. That is safe only
if a consumer with ``enable.auto.commit=false`` never commits on its own, not even on close.
"""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_INVALID, Consumer, Producer, TopicPartition

RECORDS = 5
# Generous for a local broker: the first poll of a new group waits for the group to form.
POLL_DEADLINE_S = 30.0


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )


def _produce(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(RECORDS):
        producer.produce(topic, key=b"one-key", value=f"record {i}".encode(), partition=0)
    assert producer.flush(30) == 0


def _consume_all(consumer: Consumer, topic: str) -> list[int]:
    consumer.subscribe([topic])
    offsets: list[int] = []
    deadline = time.monotonic() + POLL_DEADLINE_S
    while len(offsets) < RECORDS and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        assert message.error() is None, message.error()
        offset = message.offset()
        assert offset is not None
        offsets.append(offset)
    return offsets


def _committed(bootstrap: str, group: str, topic: str) -> int:
    probe = _consumer(bootstrap, group)
    try:
        [partition] = probe.committed([TopicPartition(topic, 0)], timeout=30)
        return int(partition.offset)
    finally:
        probe.close()


def test_offsets_are_committed_only_by_hand(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    """Polling and closing commit nothing; commit() stores "next to read" = last + 1."""
    _produce(kafka_bootstrap, topic_name)

    reader = _consumer(kafka_bootstrap, group_id)
    assert _consume_all(reader, topic_name) == list(range(RECORDS))
    reader.close()
    assert _committed(kafka_bootstrap, group_id, topic_name) == OFFSET_INVALID

    committer = _consumer(kafka_bootstrap, group_id)
    assert _consume_all(committer, topic_name) == list(range(RECORDS))
    committer.commit(asynchronous=False)
    committer.close()
    assert _committed(kafka_bootstrap, group_id, topic_name) == RECORDS
