"""Creating the events topic and its DLQ, idempotently, with the AdminClient.

The publisher, the consumer and the local demo call :func:`ensure_topics` before they start; a
topic that already exists is left as it is (its partition count is not changed, since that would
move topics to other partitions).

The DLQ topic is created with room for the largest events record plus cardwright's headers
(docs/design.md, "Message event": bad input never loses a record), so its ``max.message.bytes``
is the events topic's plus :data:`DLQ_HEADER_MARGIN_BYTES`.

Both topics get the replication of ``producers.replication`` for the cluster's broker count:
three replicas and ``min.insync.replicas=2`` on three brokers or more, so a write the publisher
and the DLQ producer see acknowledged (``acks=all``) is on two brokers at least. Kafka's own
default (``default.replication.factor=1``) would silently make a single copy on a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic

from cardwright.producers.kafka_config import PropertyValue, client_config
from cardwright.producers.replication import Replication, replication_for
from cardwright.schema.errors import ConfigurationError, KafkaUnavailable

# How long to wait for the cluster to answer a create request. A healthy cluster answers in
# milliseconds; 30 s covers a broker that is still starting, then we report it unreachable.
_CREATE_TIMEOUT_S = 30.0
# Answers that no retry can change: the operator must fix permissions or the request.
_NOT_RETRYABLE = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.INVALID_PARTITIONS,
        KafkaError.INVALID_REPLICATION_FACTOR,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.POLICY_VIOLATION,
    }
)
# Kafka's default max.message.bytes of a topic (the broker's message.max.bytes): 1 MiB + 12.
DEFAULT_EVENTS_MAX_MESSAGE_BYTES = 1_048_588
# What a DLQ copy adds to the original record: six headers (the detail is cut at 1000 bytes,
# the rest are names and numbers, well under 2 KiB together) and the record batch overhead.
# 64 KiB leaves room for headers a later version adds without resizing topics.
DLQ_HEADER_MARGIN_BYTES = 64 * 1024


def ensure_topics(
    bootstrap: str,
    topic: str,
    partitions: int,
    dlq_topic: str,
    *,
    properties: Mapping[str, PropertyValue] | None = None,
) -> list[str]:
    """Create ``topic`` and ``dlq_topic`` with ``partitions`` partitions unless they exist.

    Returns the names of the topics this call created. ``properties`` carries security and
    other client settings (see ``producers.kafka_config``); ``bootstrap`` wins over theirs.
    """
    config = client_config(properties or {}, **{"bootstrap.servers": bootstrap})
    try:
        admin = AdminClient(config)
    except KafkaException as exc:
        message = exc.args[0].str()
        raise ConfigurationError(f"invalid Kafka admin configuration: {message}") from None
    replication = replication_for(broker_count(admin, bootstrap))
    created = _create(admin, bootstrap, [_new_topic(topic, partitions, replication)])
    if dlq_topic != topic:
        room = dlq_max_message_bytes(events_max_message_bytes(admin, topic))
        dlq = _new_topic(dlq_topic, partitions, replication, {"max.message.bytes": str(room)})
        created += _create(admin, bootstrap, [dlq])
    return created


def broker_count(admin: AdminClient, bootstrap: str) -> int:
    """How many brokers the cluster has (the brokers the metadata lists)."""
    try:
        metadata = admin.list_topics(timeout=_CREATE_TIMEOUT_S)
    except KafkaException as exc:
        message = f"cannot read the cluster's metadata from {bootstrap}: {exc.args[0].str()}"
        raise KafkaUnavailable(message) from None
    finally:
        admin.poll(0)
    if not metadata.brokers:
        raise KafkaUnavailable(f"the cluster at {bootstrap} lists no brokers")
    return len(metadata.brokers)


def dlq_max_message_bytes(events_max_message_bytes: int) -> int:
    """The DLQ's max.message.bytes: the largest events record plus our headers."""
    return events_max_message_bytes + DLQ_HEADER_MARGIN_BYTES


def events_max_message_bytes(admin: AdminClient, topic: str) -> int:
    """The events topic's max.message.bytes (Kafka's default when it cannot be read)."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        configs = admin.describe_configs([resource], request_timeout=_CREATE_TIMEOUT_S)
        entries = configs[resource].result(timeout=_CREATE_TIMEOUT_S + 5)
        return int(entries["max.message.bytes"].value)
    except (KafkaException, TimeoutError, KeyError, ValueError):
        return DEFAULT_EVENTS_MAX_MESSAGE_BYTES


def _new_topic(
    name: str, partitions: int, replication: Replication, config: dict[str, str] | None = None
) -> NewTopic:
    return NewTopic(
        name,
        num_partitions=partitions,
        replication_factor=replication.factor,
        config={"min.insync.replicas": str(replication.min_insync), **(config or {})},
    )


def _create(admin: AdminClient, bootstrap: str, wanted: list[NewTopic]) -> list[str]:
    futures = admin.create_topics(wanted, request_timeout=_CREATE_TIMEOUT_S)
    created = []
    try:
        for name, future in futures.items():
            try:
                future.result(timeout=_CREATE_TIMEOUT_S + 5)  # the request times out first
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                message = f"cannot create topic {name!r} on {bootstrap}: {err.str()}"
                if err.code() in _NOT_RETRYABLE:
                    raise ConfigurationError(message) from None
                raise KafkaUnavailable(message) from None
            except TimeoutError:
                message = f"cannot create topic {name!r}: no answer from {bootstrap}"
                raise KafkaUnavailable(message) from None
            created.append(name)
    finally:
        admin.poll(0)  # an AdminClient hands its log lines over only when polled
    return created
