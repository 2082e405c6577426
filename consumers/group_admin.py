"""Consumer-group administration on the cluster: group state, committed offsets, watermarks,
offsets for a time, and applying a reset plan. The decisions live in ``consumers.replay_plan``.

It sends the requests Kafka's own ``kafka-consumer-groups`` tool sends (DescribeGroups,
ListOffsets, OffsetFetch, OffsetCommit), through an ``AdminClient`` and, for OffsetFetch, a
consumer that never subscribes: nothing here ever joins the group it administers.
``KafkaException`` is translated here into the cardwright error tree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from cardwright.consumers.replay_plan import PartitionOffsets, PlanEntry
from cardwright.producers.kafka_config import PropertyValue, client_config
from cardwright.schema.errors import CardwrightError, KafkaUnavailable

__all__ = [
    "GroupActive",
    "GroupAdmin",
    "GroupInfo",
    "Member",
    "OffsetsRejected",
    "TopicNotFound",
]

# Per admin request. Long enough to ride out a coordinator move or a leader election on a
# healthy cluster (a few seconds), short enough that an operator at a terminal gets an answer
# rather than a hang when the bootstrap address is wrong.
REQUEST_TIMEOUT_S = 10.0

# Kafka's rule for resetting offsets: nobody may be consuming, or their next commit would
# overwrite the reset (kafka-consumer-groups checks the same two states).
INACTIVE_STATES = frozenset({"EMPTY", "DEAD"})

# librdkafka's answer for "no committed offset" and for "no record at/after this time".
_NO_OFFSET = -1001
_NOT_FOUND = -1

# OffsetSpec is not in confluent_kafka.admin's __all__ and its class methods are unannotated.
_EARLIEST: Any = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
_LATEST: Any = OffsetSpec.latest()  # type: ignore[no-untyped-call]

# Group requests go to the group's coordinator. Just after a broker starts (the offsets topic
# is created on first use) or while leadership moves, it answers "not coordinator" or "loading"
# for a moment; Kafka's own tool retries these, and so do we, until the request timeout.
_COORDINATOR_MOVING = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    }
)
# A coordinator settles within a few hundred milliseconds; polling faster only adds load.
RETRY_BACKOFF_S = 0.2

T = TypeVar("T")


class GroupActive(CardwrightError):
    """The group has members, so its offsets must not be changed under them."""

    def __init__(self, group: str, state: str, members: Sequence[Member]) -> None:
        named = "; ".join(str(m) for m in members) or "none listed"
        super().__init__(
            f"group {group!r} is {state} with {len(members)} active member(s): {named}. "
            f"Offsets can only be reset while the group is EMPTY or DEAD; stop its consumers "
            f"and try again (or use --dry-run to see the plan)"
        )
        self.group = group
        self.state = state
        self.members = tuple(members)


class TopicNotFound(CardwrightError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist")
        self.topic = topic


class OffsetsRejected(CardwrightError):
    """The broker refused to commit a reset plan (e.g. a member joined after the check)."""

    def __init__(self, group: str, detail: str) -> None:
        super().__init__(
            f"the broker refused the new offsets for group {group!r}: {detail}. "
            "If a consumer joined meanwhile, stop it and run the replay again"
        )
        self.group = group
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    client_id: str
    host: str

    def __str__(self) -> str:
        return f"{self.client_id}@{self.host.lstrip('/')} (member {self.member_id})"


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group_id: str
    state: str  # Kafka's group state name, e.g. STABLE, EMPTY, DEAD
    members: tuple[Member, ...]

    @property
    def inactive(self) -> bool:
        return self.state in INACTIVE_STATES and not self.members


class GroupAdmin:
    """Read and reset one consumer group's offsets on one topic."""

    def __init__(
        self, properties: Mapping[str, PropertyValue], *, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> None:
        self._properties = dict(properties)  # secrets stay wrapped until a client is built
        self._admin = AdminClient(client_config(self._properties))
        self._timeout_s = timeout_s

    def describe_group(self, group: str) -> GroupInfo:
        def attempt() -> Any:
            futures = self._admin.describe_consumer_groups(
                [group], request_timeout=self._timeout_s, include_authorized_operations=False
            )
            return futures[group].result()

        try:
            description = self._retrying(attempt)
        except KafkaException as exc:
            # Newer brokers answer GROUP_ID_NOT_FOUND where older ones described a Dead group.
            if _code(exc) == KafkaError.GROUP_ID_NOT_FOUND:
                return GroupInfo(group, "DEAD", ())
            raise _translate(exc, f"describing group {group!r}") from exc
        members = tuple(Member(m.member_id, m.client_id, m.host) for m in description.members or ())
        return GroupInfo(group, description.state.name, members)

    def require_inactive(self, group: str) -> GroupInfo:
        info = self.describe_group(group)
        if not info.inactive:
            raise GroupActive(group, info.state, info.members)
        return info

    def partitions(self, topic: str) -> list[int]:
        futures = self._admin.describe_topics(
            TopicCollection([topic]), request_timeout=self._timeout_s
        )
        try:
            description = futures[topic].result()
        except KafkaException as exc:
            if _code(exc) == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicNotFound(topic) from exc
            raise _translate(exc, f"describing topic {topic!r}") from exc
        return sorted(p.id for p in description.partitions)

    def offsets(self, group: str, topic: str) -> list[PartitionOffsets]:
        """Committed offset and watermarks of every partition of ``topic`` for ``group``."""
        partitions = self.partitions(topic)
        committed = self._committed(group, topic, partitions)
        low = self._list_offsets(topic, partitions, _EARLIEST)
        high = self._list_offsets(topic, partitions, _LATEST)
        return [PartitionOffsets(p, committed[p], low[p], high[p]) for p in partitions]

    def offsets_for_time(
        self, topic: str, partitions: Iterable[int], timestamp_ms: int
    ) -> dict[int, int | None]:
        """Per partition, the first offset with a timestamp >= ``timestamp_ms``, else None."""
        found = self._list_offsets(topic, partitions, OffsetSpec.for_timestamp(timestamp_ms))
        return {p: (None if offset == _NOT_FOUND else offset) for p, offset in found.items()}

    def apply(self, group: str, topic: str, plan: Sequence[PlanEntry]) -> None:
        """Commit the plan's targets as the group's offsets, all partitions in one request.

        The broker itself refuses an offset commit without a generation while the group has
        members, so a consumer that joins after :meth:`require_inactive` still cannot have its
        position changed under it: that refusal surfaces as :class:`OffsetsRejected`.
        """
        if not plan:
            return
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topic, e.partition, e.target) for e in plan]
        )

        def attempt() -> Any:
            futures = self._admin.alter_consumer_group_offsets(
                [request], request_timeout=self._timeout_s
            )
            return _raise_moving(futures[group].result())

        try:
            result = self._retrying(attempt)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and not _is_transport(error):
                raise OffsetsRejected(group, error.str()) from exc
            raise _translate(exc, f"committing offsets of group {group!r}") from exc
        failed = [tp for tp in result.topic_partitions if tp.error is not None]
        if failed:
            detail = ", ".join(f"partition {tp.partition}: {tp.error.str()}" for tp in failed)
            raise OffsetsRejected(group, detail)

    def _committed(self, group: str, topic: str, partitions: list[int]) -> dict[int, int | None]:
        # Read through a consumer of the group that never subscribes (so never joins), not
        # AdminClient.list_consumer_group_offsets: in librdkafka (up to at least 2.16) that call
        # crashes the whole process with SIGSEGV when the coordinator answers NOT_COORDINATOR,
        # which a fresh broker or a moving coordinator does (librdkafka issue #5040).
        consumer = Consumer(
            client_config(
                self._properties,
                **{
                    "group.id": group,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                },
            )
        )
        try:
            found = self._retrying(
                lambda: consumer.committed(
                    [TopicPartition(topic, p) for p in partitions], timeout=self._timeout_s
                )
            )
        except KafkaException as exc:
            raise _translate(exc, f"reading committed offsets of group {group!r}") from exc
        finally:
            consumer.poll(0)  # hands over its log lines; it never subscribed, so reads nothing
            consumer.close()
        committed: dict[int, int | None] = dict.fromkeys(partitions)
        for tp in found:
            if tp.error is not None:
                raise KafkaUnavailable(
                    f"reading the committed offset of {topic}[{tp.partition}]: {tp.error.str()}"
                )
            committed[tp.partition] = None if tp.offset == _NO_OFFSET else tp.offset
        return committed

    def _list_offsets(self, topic: str, partitions: Iterable[int], spec: Any) -> dict[int, int]:
        futures = self._admin.list_offsets(
            {TopicPartition(topic, p): spec for p in partitions},
            request_timeout=self._timeout_s,
        )
        offsets = {}
        for tp, future in futures.items():
            try:
                offsets[tp.partition] = future.result().offset
            except KafkaException as exc:
                raise _translate(exc, f"listing offsets of {topic}[{tp.partition}]") from exc
            finally:
                self._admin.poll(0)
        return offsets

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run a group request, again while its coordinator is moving or loading."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                return attempt()
            except KafkaException as exc:
                if _code(exc) not in _COORDINATOR_MOVING or time.monotonic() >= deadline:
                    raise
            finally:
                self._admin.poll(0)  # an AdminClient hands its log lines over only when polled
            time.sleep(RETRY_BACKOFF_S)


def _raise_moving(result: Any) -> Any:
    """Per-partition coordinator errors become an exception, so the request is retried whole."""
    for tp in result.topic_partitions or ():
        if tp.error is not None and tp.error.code() in _COORDINATOR_MOVING:
            raise KafkaException(tp.error)
    return result


def _code(exc: KafkaException) -> int | None:
    error = exc.args[0] if exc.args else None
    return error.code() if isinstance(error, KafkaError) else None


def _is_transport(error: KafkaError) -> bool:
    return error.code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT) or error.retriable()


def _translate(exc: KafkaException, doing: str) -> CardwrightError:
    error = exc.args[0] if exc.args else exc
    text = error.str() if isinstance(error, KafkaError) else str(error)
    return KafkaUnavailable(f"{doing}: {text}")
