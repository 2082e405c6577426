"""A three-broker KRaft cluster (`cardwright stack up --brokers 3`, natively) and what cardwright
asks of it: topics with three replicas and two in sync, and acknowledged events that survive the
SIGKILL of their partition leader.

One cluster for the module, Kafka only (PostgreSQL is not needed here): a cluster start costs
~20 s of the CI budget, so every test shares it and leaves it whole (all three brokers up).
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._metadata import ClusterMetadata
from confluent_kafka.admin._resource import ResourceType

from cardwright.producers.publisher import Publisher
from cardwright.producers.topics import ensure_topics
from cardwright.schema.errors import ConfigurationError
from cardwright.schema.events import MessageEvent
from cardwright.stack import native_kafka
from cardwright.stack.config import StackConfig, default_cache_dir
from cardwright.stack.procs import free_port_block, reap, wait_until
from tests.conftest import make_test_state_dir
from tests.integration.support import event

pytestmark = pytest.mark.slow

BROKERS = 3
PARTITIONS = 4
# A SIGKILLed broker is noticed by the controller after broker.session.timeout.ms (9 s); the
# producer retries meanwhile. The margin is for two busy cores.
FAILOVER_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[StackConfig]:
    base = free_port_block(2 * BROKERS + 1)
    config = StackConfig(
        state_dir=make_test_state_dir(),
        kafka_port=base,
        controller_port=base + 1,
        postgres_port=base + 2 * BROKERS,
        cache_dir=Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ)),
        brokers=BROKERS,
    )
    try:
        try:
            native_kafka.find_java()
            native_kafka.resolve_jars(config)
        except ConfigurationError as exc:
            pytest.skip(f"no native Kafka for a three-broker cluster: {exc}")
        pids = native_kafka.start_cluster(config)
        native_kafka.wait_cluster_ready(config, pids)
        yield config
    finally:
        pids = [n.pid for n in native_kafka.status(config).nodes if n.pid is not None]
        native_kafka.stop(config)
        for pid in pids:
            reap(pid)
        shutil.rmtree(config.state_dir, ignore_errors=True)


def _admin(config: StackConfig) -> AdminClient:
    return AdminClient({"bootstrap.servers": config.bootstrap})


def _fresh_topic() -> tuple[str, str]:
    name = f"cluster-{uuid.uuid4().hex[:8]}"
    return name, f"{name}.dlq"


def test_topics_get_three_replicas_and_two_in_sync(cluster: StackConfig) -> None:
    topic, dlq = _fresh_topic()
    created = ensure_topics(cluster.bootstrap, topic, PARTITIONS, dlq)
    assert sorted(created) == sorted([topic, dlq])
    admin = _admin(cluster)
    # The metadata that showed every leader: another broker's answer may not list the topics yet.
    metadata = _wait_for_leaders(admin, [topic, dlq])
    assert len(metadata.brokers) == BROKERS
    for name in (topic, dlq):
        partitions = metadata.topics[name].partitions
        assert len(partitions) == PARTITIONS
        assert {len(p.replicas) for p in partitions.values()} == {3}
        resource = ConfigResource(ResourceType.TOPIC, name)
        entries = admin.describe_configs([resource])[resource].result(timeout=30)
        assert entries["min.insync.replicas"].value == "2"
    # Kafka's own topics follow the same rule (the broker settings of cardwright.stack).
    broker = ConfigResource(ResourceType.BROKER, "1")
    entries = admin.describe_configs([broker])[broker].result(timeout=30)
    assert entries["offsets.topic.replication.factor"].value == "3"
    assert entries["min.insync.replicas"].value == "2"


def test_acknowledged_events_survive_the_sigkill_of_their_partition_leader(
    cluster: StackConfig,
) -> None:
    topic, dlq = _fresh_topic()
    ensure_topics(cluster.bootstrap, topic, PARTITIONS, dlq)
    admin = _admin(cluster)
    _wait_for_leaders(admin, [topic])
    before = [event(f"t{i}", f"m{i}", f"before the kill {i}") for i in range(40)]
    publisher = Publisher({"bootstrap.servers": cluster.bootstrap}, topic)
    for e in before:
        publisher.publish(e)
    stats = publisher.flush(30)
    assert stats.delivered == len(before) and stats.failed == 0

    leader = _wait_for_leaders(admin, [topic]).topics[topic].partitions[0].leader
    victim = native_kafka.node_status(cluster, leader)
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: not native_kafka.node_status(cluster, leader).running, 20)
    reap(victim.pid)
    try:
        # Acknowledged by all in-sync replicas: the new leaders have them, and take new writes
        # with two of three replicas left (min.insync.replicas=2).
        after = [event(f"t{i}", f"n{i}", f"after the kill {i}") for i in range(40)]
        for e in after:
            publisher.publish(e)
        stats = publisher.flush(FAILOVER_TIMEOUT_S)
        assert stats.failed == 0 and stats.undelivered == 0
        read = _read_all(cluster.bootstrap, topic)
        assert read == {str(e.event_id) for e in before + after}
    finally:
        pid = native_kafka.start(cluster, leader)
        native_kafka.wait_ready(cluster, pid, node=leader)


def _wait_for_leaders(admin: AdminClient, topics: list[str]) -> ClusterMetadata:
    """Until every partition of ``topics`` has a leader in the metadata brokers hand out; the
    metadata that showed it (brokers learn of new topics at different moments)."""
    seen: list[ClusterMetadata] = []

    def led() -> bool:
        metadata = admin.list_topics(timeout=10)
        seen.append(metadata)
        return all(
            name in metadata.topics
            and len(metadata.topics[name].partitions) == PARTITIONS
            and all(p.leader > 0 for p in metadata.topics[name].partitions.values())
            for name in topics
        )

    assert wait_until(led, 30), f"topics {topics} have no leaders"
    return seen[-1]


def _read_all(bootstrap: str, topic: str) -> set[str]:
    """Every record's event id, read from the start of each partition to its end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        ids: set[str] = set()
        ended: set[int] = set()
        deadline = 60.0
        waited = 0.0
        while len(ended) < PARTITIONS and waited < deadline:
            message = consumer.poll(1.0)
            waited += 1.0 if message is None else 0.0
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ended.add(message.partition() or 0)
                continue
            ids.add(_event_id(message.value() or b""))
        return ids
    finally:
        consumer.close()


def _event_id(value: bytes) -> str:
    return str(MessageEvent.model_validate_json(value).event_id)
