"""Per-partition offset gauges of one group member: committed offset, high watermark, lag.

Refreshed from the worker thread (the consumer is not safe to use from the HTTP thread), from
what librdkafka already knows: cached high watermarks and fetch positions, the offsets this
member committed, and, once per assignment, the group's committed offsets. A partition that
moves to another member loses its series here, since its values are that member's now.
"""

from __future__ import annotations

from typing import Any, Protocol

from confluent_kafka import KafkaException, TopicPartition
from prometheus_client import CollectorRegistry, Gauge

from cardwright.consumers.core_events import Partition

# Asking the group coordinator for committed offsets blocks the poll loop: once per assignment,
# and never longer than this (a slow coordinator only delays the lag gauge).
COMMITTED_TIMEOUT_S = 2.0


class WorkerView(Protocol):
    """What the metrics read from the Worker besides its events (see consumers.worker)."""

    consumer: Any

    def pending_count(self) -> int: ...
    def oldest_pending_age(self) -> float | None: ...
    def assigned_partitions(self) -> set[Partition]: ...
    def committed_offsets(self) -> dict[Partition, int]: ...


class PartitionGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._labels: set[tuple[str, str]] = set()
        self._baseline: dict[Partition, int] = {}  # group commits found at assignment
        self.committed = Gauge(
            "cardwright_partition_committed_offset",
            "Offset this member last committed",
            ["topic", "partition"],
            registry=registry,
        )
        self.high = Gauge(
            "cardwright_partition_high_watermark",
            "Log end offset",
            ["topic", "partition"],
            registry=registry,
        )
        self.lag = Gauge(
            "cardwright_partition_lag",
            "Records behind: at=committed (high watermark minus committed offset) or "
            "at=position (high watermark minus the next offset to fetch)",
            ["topic", "partition", "at"],
            registry=registry,
        )
        self.assigned = Gauge(
            "cardwright_assigned_partitions", "Partitions this member owns", registry=registry
        )

    def committed_now(self, topic: str, offsets: dict[int, int]) -> None:
        """This member just committed ``offsets`` (partition -> offset)."""
        for partition, offset in offsets.items():
            self.committed.labels(topic=topic, partition=str(partition)).set(offset)
            self._labels.add((topic, str(partition)))

    def refresh(self, worker: WorkerView) -> None:
        """Offsets and lag of the partitions this member owns now."""
        owned = sorted(worker.assigned_partitions())
        self.assigned.set(len(owned))
        consumer = worker.consumer
        committed = {**self._group_committed(consumer, owned), **worker.committed_offsets()}
        positions: dict[Partition, int] = {}
        if owned:
            answer = consumer.position([TopicPartition(t, p) for t, p in owned])
            positions = {(tp.topic, tp.partition): tp.offset for tp in answer}
        seen: set[tuple[str, str]] = set()
        for topic, partition in owned:
            labels = (topic, str(partition))
            seen.add(labels)
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=1, cached=True
                )
            except KafkaException:  # no statistics yet for a fresh assignment: next time
                high = -1
            if high < 0:
                continue
            self.high.labels(*labels).set(high)
            if (topic, partition) in committed:
                offset = committed[(topic, partition)]
                self.committed.labels(*labels).set(offset)
                self.lag.labels(*labels, "committed").set(max(0, high - offset))
            # Nothing fetched since the assignment: the next fetch starts at the committed offset.
            position = positions.get((topic, partition), -1)
            if position < 0:
                position = committed.get((topic, partition), -1)
            if position >= 0:
                self.lag.labels(*labels, "position").set(max(0, high - position))
        for labels in self._labels - seen:
            self._forget(labels)
        self._labels = seen

    def _group_committed(self, consumer: Any, owned: list[Partition]) -> dict[Partition, int]:
        """The group's committed offsets of newly owned partitions, asked once per assignment:
        until this member commits a partition itself, that is where its lag counts from."""
        self._baseline = {k: v for k, v in self._baseline.items() if k in owned}
        unknown = [tp for tp in owned if tp not in self._baseline]
        if unknown:
            try:
                answer = consumer.committed(
                    [TopicPartition(t, p) for t, p in unknown], timeout=COMMITTED_TIMEOUT_S
                )
            except KafkaException:
                return dict(self._baseline)  # asked again on the next refresh
            for tp in answer:
                self._baseline[(tp.topic, tp.partition)] = tp.offset
        return {k: v for k, v in self._baseline.items() if v >= 0}

    def _forget(self, labels: tuple[str, str]) -> None:
        """Drop a partition's series when it moved to another member: its value is theirs now."""
        self.high.remove(*labels)
        self.committed.remove(*labels)
        self.lag.remove(*labels, "committed")
        self.lag.remove(*labels, "position")
