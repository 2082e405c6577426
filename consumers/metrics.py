"""Prometheus metrics of one consumer group member, fed by the Worker's ``on_event`` callback.

``WorkerMetrics`` is an observer: the Worker calls it with ``(name, fields)`` on its own thread,
and it updates counters, histograms and gauges in a per-process ``CollectorRegistry`` that the
health server (cardwright.health) exposes on ``/metrics``. Gauges that need the consumer
(per-partition offsets) are refreshed from the ``turn`` event, at most every few seconds, because
the consumer is not safe to touch from the HTTP thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import KafkaException, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

Observer = Callable[[str, dict[str, Any]], None]
Partition = tuple[str, int]

# Pending-topic gauges are cheap but oldest_pending_age scans every pending topic: once a second
# is fresher than any scrape interval and costs nothing measurable.
GAUGE_REFRESH_S = 1.0
# Offsets are read from librdkafka's cached statistics (no broker round trip); every 5 s keeps the
# lag gauges fresh for a 15 s scrape without doing it on every loop turn.
LAG_REFRESH_S = 5.0
# Asking the group coordinator for committed offsets blocks the poll loop: once per assignment,
# and never longer than this (a slow coordinator only delays the lag gauge).
COMMITTED_TIMEOUT_S = 2.0
# Records per batch: up to the default batch size of 1000 and beyond.
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
# Extraction and the replace transaction: milliseconds for the rules extractor, seconds for a
# model behind an HTTP endpoint (whose timeout defaults to 30 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class WorkerView(Protocol):
    """What the metrics read from the Worker besides its events (see consumers.worker)."""

    consumer: Any

    def pending_count(self) -> int: ...
    def oldest_pending_age(self) -> float | None: ...
    def assigned_partitions(self) -> set[Partition]: ...
    def committed_offsets(self) -> dict[Partition, int]: ...


def fan_out(*observers: Observer | None) -> Observer:
    """One ``on_event`` callback that calls each given observer in turn."""
    chosen = [o for o in observers if o is not None]

    def observe(name: str, fields: dict[str, Any]) -> None:
        for observer in chosen:
            observer(name, fields)

    return observe


class WorkerMetrics:
    """The metric families of the issue's list; ``registry`` is what ``/metrics`` serves."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._clock = clock
        self._wall = wall
        self._worker: WorkerView | None = None
        self._gauges_at = float("-inf")
        self._lag_at = float("-inf")
        self._partition_labels: set[tuple[str, str]] = set()
        self._baseline: dict[Partition, int] = {}  # group commits found at assignment
        self._last_event_wall = 0.0
        self._last_run_wall = 0.0
        r = self.registry
        if registry is None:
            ProcessCollector(registry=r)  # CPU, memory, open files of this process
        self.events = Counter("cardwright_events_consumed", "Records consumed", registry=r)
        self.dead_letters = Counter(
            "cardwright_dead_letters", "Records sent to the DLQ", ["reason"], registry=r
        )
        self.batch_size = Histogram(
            "cardwright_batch_size", "Records per batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.persisted = Counter(
            "cardwright_messages_persisted", "Stored message rows that changed", registry=r
        )
        self.runs = Counter(
            "cardwright_runs",
            "Topic extractions by outcome: new, reused (cards re-derived for an earlier input, "
            "no new run), noop (cards already from this input, found while persisting the batch or "
            "after hashing), stale, missing, failed",
            ["outcome"],
            registry=r,
        )
        self.derivations = Counter(
            "cardwright_card_sets_replaced",
            "Card sets replaced (outcomes new and reused)",
            registry=r,
        )
        self.extract_seconds = Histogram(
            "cardwright_extract_seconds", "Extractor time", buckets=LATENCY_BUCKETS, registry=r
        )
        self.replace_seconds = Histogram(
            "cardwright_replace_seconds",
            "Replace transaction time",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pending = Gauge("cardwright_pending_topics", "Topics waiting", registry=r)
        self.oldest_pending = Gauge(
            "cardwright_oldest_pending_age_seconds",
            "Age of the first pending event of the longest-waiting topic",
            registry=r,
        )
        self.last_event = Gauge(
            "cardwright_last_event_timestamp_seconds", "When the last batch arrived", registry=r
        )
        self.last_run = Gauge(
            "cardwright_last_run_timestamp_seconds",
            "When the last extraction succeeded (any outcome but failed)",
            registry=r,
        )
        self.staleness = Gauge(
            "cardwright_staleness_seconds",
            "While topics are pending: last event time minus last successful run time",
            registry=r,
        )
        self.committed = Gauge(
            "cardwright_partition_committed_offset",
            "Offset this member last committed",
            ["topic", "partition"],
            registry=r,
        )
        self.high = Gauge(
            "cardwright_partition_high_watermark",
            "Log end offset",
            ["topic", "partition"],
            registry=r,
        )
        self.lag = Gauge(
            "cardwright_partition_lag",
            "Records behind: at=committed (high watermark minus committed offset) or "
            "at=position (high watermark minus the next offset to fetch)",
            ["topic", "partition", "at"],
            registry=r,
        )
        self.assigned = Gauge(
            "cardwright_assigned_partitions", "Partitions this member owns", registry=r
        )
        self.rebalances = Counter(
            "cardwright_rebalances", "Rebalance callbacks", ["kind"], registry=r
        )
        self.commits = Counter("cardwright_offset_commits", "Offset commits", registry=r)
        self.commit_failures = Counter(
            "cardwright_offset_commit_failures", "Failed offset commits", registry=r
        )
        self.database_available = Gauge(
            "cardwright_database_available", "1 unless the worker paused for PostgreSQL", registry=r
        )
        self.database_available.set(1)

    def attach(self, worker: WorkerView) -> None:
        self._worker = worker

    def __call__(self, name: str, fields: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(fields)

    # --- events -------------------------------------------------------------------------------

    def _on_turn(self, fields: dict[str, Any]) -> None:
        self.pending.set(fields.get("pending", 0))
        now = self._clock()
        if self._worker is None:
            return
        if now - self._gauges_at >= GAUGE_REFRESH_S:
            self._gauges_at = now
            age = self._worker.oldest_pending_age()
            self.oldest_pending.set(age or 0.0)
            stale = max(0.0, self._last_event_wall - self._last_run_wall)
            self.staleness.set(stale if self._worker.pending_count() else 0.0)
        if now - self._lag_at >= LAG_REFRESH_S:
            self._lag_at = now
            self.refresh_offsets()

    def _on_batch(self, fields: dict[str, Any]) -> None:
        size = int(fields.get("size", 0))
        self.events.inc(size)
        self.batch_size.observe(size)
        self.persisted.inc(int(fields.get("changed", 0)))
        for reason in fields.get("dead_reasons", ()):
            self.dead_letters.labels(reason=reason).inc()
        # Topics found current while persisting need no hash: the same no-op, decided earlier.
        current = len(fields.get("current", ()))
        if current:
            self.runs.labels(outcome="noop").inc(current)
        self._last_event_wall = self._wall()
        self.last_event.set(self._last_event_wall)

    def _on_run(self, fields: dict[str, Any]) -> None:
        outcome = str(fields.get("outcome"))
        self.runs.labels(outcome=outcome).inc()
        if outcome in ("new", "reused"):
            self.derivations.inc()
        if outcome != "failed":
            self._last_run_wall = self._wall()
            self.last_run.set(self._last_run_wall)
        if fields.get("extract_s"):
            self.extract_seconds.observe(fields["extract_s"])
        if fields.get("replace_s"):
            self.replace_seconds.observe(fields["replace_s"])

    def _on_commit(self, fields: dict[str, Any]) -> None:
        self.commits.inc()
        topic = str(fields.get("topic"))
        for partition, offset in fields.get("offsets", {}).items():
            self.committed.labels(topic=topic, partition=str(partition)).set(offset)
            self._partition_labels.add((topic, str(partition)))

    def _on_commit_failed(self, _fields: dict[str, Any]) -> None:
        self.commit_failures.inc()

    def _on_assigned(self, fields: dict[str, Any]) -> None:
        self._rebalanced("assigned")

    def _on_revoked(self, fields: dict[str, Any]) -> None:
        self._rebalanced("revoked")

    def _on_lost(self, fields: dict[str, Any]) -> None:
        self._rebalanced("lost")

    def _on_unavailable(self, _fields: dict[str, Any]) -> None:
        self.database_available.set(0)

    def _on_available(self, _fields: dict[str, Any]) -> None:
        self.database_available.set(1)

    def _rebalanced(self, kind: str) -> None:
        self.rebalances.labels(kind=kind).inc()
        self._lag_at = float("-inf")  # the owned partitions changed: refresh on the next turn

    # --- offsets ------------------------------------------------------------------------------

    def refresh_offsets(self) -> None:
        """Per-partition offsets and lag of the partitions this member owns now."""
        if self._worker is None:
            return
        owned = sorted(self._worker.assigned_partitions())
        self.assigned.set(len(owned))
        consumer = self._worker.consumer
        committed = {**self._group_committed(consumer, owned), **self._worker.committed_offsets()}
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
        for labels in self._partition_labels - seen:
            self._forget(labels)
        self._partition_labels = seen

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
