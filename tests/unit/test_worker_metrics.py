"""Worker events become the right counters, histograms and gauges."""

from __future__ import annotations

from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from cardwright.consumers import observations as obs
from cardwright.consumers.metrics import LAG_REFRESH_S, WorkerMetrics
from cardwright.consumers.observations import fan_out


class FakeConsumer:
    """High watermarks and positions as librdkafka would report them."""

    def __init__(self) -> None:
        self.high = {("t", 0): 10, ("t", 1): 5}
        self.positions = {("t", 0): 8, ("t", 1): -1001}
        self.group_committed = {("t", 1): 4}

    def get_watermark_offsets(
        self, tp: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]:
        assert cached
        return 0, self.high[(tp.topic, tp.partition)]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.positions[(tp.topic, tp.partition)])
            for tp in tps
        ]

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.group_committed.get((tp.topic, tp.partition), -1001)
            )
            for tp in tps
        ]


class FakeWorker:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()
        self.pending = 0
        self.owned = {("t", 0), ("t", 1)}
        self.committed = {("t", 0): 7}

    def pending_count(self) -> int:
        return self.pending

    def oldest_pending_age(self) -> float | None:
        return 4.5 if self.pending else None

    def assigned_partitions(self) -> set[tuple[str, int]]:
        return set(self.owned)

    def committed_offsets(self) -> dict[tuple[str, int], int]:
        return dict(self.committed)


def batch(
    size: int,
    changed: int,
    dead_reasons: tuple[str, ...],
    current: tuple[tuple[str, str], ...] = (),
) -> obs.BatchPersisted:
    return obs.BatchPersisted(size, changed, dead_reasons, (), current)


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


def make(now: list[float]) -> tuple[WorkerMetrics, FakeWorker]:
    metrics = WorkerMetrics(CollectorRegistry(), clock=lambda: now[0], wall=lambda: now[0])
    worker = FakeWorker()
    metrics.attach(worker)
    return metrics, worker


def test_batches_count_events_dead_letters_and_persisted_rows() -> None:
    metrics, _ = make([0.0])
    metrics(batch(5, 3, ("invalid_json", "invalid_json")))
    metrics(batch(2, 0, ("schema",)))
    assert value(metrics, "cardwright_events_consumed_total") == 7
    assert value(metrics, "cardwright_messages_persisted_total") == 3
    assert value(metrics, "cardwright_dead_letters_total", reason="invalid_json") == 2
    assert value(metrics, "cardwright_dead_letters_total", reason="schema") == 1
    assert value(metrics, "cardwright_batch_size_count") == 2
    assert value(metrics, "cardwright_batch_size_sum") == 7


def test_topics_found_current_while_persisting_count_as_noop_runs() -> None:
    metrics, _ = make([0.0])
    metrics(batch(3, 0, (), current=(("u", "a"), ("u", "b"))))
    assert value(metrics, "cardwright_runs_total", outcome="noop") == 2
    assert value(metrics, "cardwright_runs_total", outcome="new") is None


def test_runs_by_outcome_and_latencies() -> None:
    metrics, _ = make([0.0])
    metrics(obs.RunFinished("u", "t", "new", 1, 0.01, 0.002))
    metrics(obs.RunFinished("u", "t", "reused", 1, 0.01, 0.002))
    metrics(obs.RunFinished("u", "t", "noop", 1, 0.0, 0.0))
    metrics(obs.RunFinished("u", "t", "failed"))
    assert value(metrics, "cardwright_runs_total", outcome="new") == 1
    assert value(metrics, "cardwright_runs_total", outcome="noop") == 1
    assert value(metrics, "cardwright_runs_total", outcome="failed") == 1
    assert value(metrics, "cardwright_card_sets_replaced_total") == 2
    assert value(metrics, "cardwright_extract_seconds_count") == 2
    assert value(metrics, "cardwright_replace_seconds_count") == 2


def test_pending_staleness_and_partition_lag_refresh_on_turns() -> None:
    now = [1000.0]
    metrics, worker = make(now)
    metrics(obs.RunFinished("u", "t", "new"))
    now[0] += 30
    metrics(batch(1, 1, ()))
    worker.pending = 3
    metrics(obs.Turn(3))
    assert value(metrics, "cardwright_pending_topics") == 3
    assert value(metrics, "cardwright_oldest_pending_age_seconds") == 4.5
    assert value(metrics, "cardwright_staleness_seconds") == 30
    assert value(metrics, "cardwright_assigned_partitions") == 2
    t0 = {"topic": "t", "partition": "0"}
    t1 = {"topic": "t", "partition": "1"}
    assert value(metrics, "cardwright_partition_high_watermark", **t0) == 10
    assert value(metrics, "cardwright_partition_lag", **t0, at="committed") == 3
    assert value(metrics, "cardwright_partition_lag", **t0, at="position") == 2
    # Never fetched since the assignment: the group's committed offset stands for both.
    assert value(metrics, "cardwright_partition_committed_offset", **t1) == 4
    assert value(metrics, "cardwright_partition_lag", **t1, at="position") == 1

    worker.owned = {("t", 0)}
    metrics(obs.PartitionsRevoked((1,)))
    metrics(obs.Turn(3))
    assert value(metrics, "cardwright_partition_high_watermark", **t1) is None
    assert value(metrics, "cardwright_rebalances_total", kind="revoked") == 1

    worker.consumer.high[("t", 0)] = 20
    metrics(obs.Turn(0))
    assert value(metrics, "cardwright_partition_high_watermark", **t0) == 10  # not yet due
    now[0] += LAG_REFRESH_S
    metrics(obs.Turn(0))
    assert value(metrics, "cardwright_partition_high_watermark", **t0) == 20


def test_commits_failures_and_database_availability() -> None:
    metrics, _ = make([0.0])
    metrics(obs.Committed("t", {0: 12}))
    metrics(obs.CommitRefused("x"))
    metrics(obs.DatabaseUnavailable("down"))
    assert value(metrics, "cardwright_offset_commits_total") == 1
    assert value(metrics, "cardwright_offset_commit_failures_total") == 1
    assert value(metrics, "cardwright_partition_committed_offset", topic="t", partition="0") == 12
    assert value(metrics, "cardwright_database_available") == 0
    metrics(obs.DatabaseAvailable())
    assert value(metrics, "cardwright_database_available") == 1


def test_fan_out_calls_every_observer_in_order() -> None:
    seen = []
    observe = fan_out(
        lambda o: seen.append(("a", o.name)), None, lambda o: seen.append(("b", o.name))
    )
    observe(obs.Turn(0))
    assert seen == [("a", "turn"), ("b", "turn")]
