"""Prometheus metrics of one consumer group member, fed by the Worker's observations.

``WorkerMetrics`` is an observer: the Worker calls it with each typed observation
(consumers/observations.py) on its own thread,
and it updates counters, histograms and gauges in a per-process ``CollectorRegistry`` that the
health server (cardwright.health) exposes on ``/metrics``. Gauges that need the consumer
(per-partition offsets, consumers.partition_metrics) are refreshed from the ``Turn`` observation, at
most every few seconds, because the consumer is not safe to touch from the HTTP thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

from cardwright.consumers import observations as obs
from cardwright.consumers.partition_metrics import PartitionGauges, WorkerView

# Pending-topic gauges are cheap but oldest_pending_age scans every pending topic: once a second
# is fresher than any scrape interval and costs nothing measurable.
GAUGE_REFRESH_S = 1.0
# Offsets are read from librdkafka's cached watermarks (no broker round trip); every 5 s keeps
# the lag gauges fresh for a 15 s scrape without doing it on every loop turn.
LAG_REFRESH_S = 5.0
# Records per batch: up to the default batch size of 1000 and beyond.
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
# Extraction and the replace transaction: milliseconds for the rules extractor, seconds for a
# model behind an HTTP endpoint (whose timeout defaults to 30 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


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
        self.partitions = PartitionGauges(r)
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
        # Cost accounting of model-backed extractors (llm): every call and token, by the
        # outcome of the extraction that spent it (new, reused, stale, missing, failed).
        self.model_calls = Counter(
            "cardwright_model_calls",
            "Requests to the model, retries included, by model and outcome",
            ["model", "outcome"],
            registry=r,
        )
        self.model_tokens = Counter(
            "cardwright_model_tokens",
            "Model tokens spent, by model, kind (prompt, completion) and outcome",
            ["model", "kind", "outcome"],
            registry=r,
        )
        self.budget_spent = Gauge(
            "cardwright_token_budget_spent",
            "1 while topics wait for the token budget (CARDWRIGHT_LLM_TOKENS_PER_HOUR)",
            registry=r,
        )

    def attach(self, worker: WorkerView) -> None:
        self._worker = worker

    def __call__(self, observation: obs.Observation) -> None:
        match observation:
            case obs.Turn(pending):
                self._on_turn(pending)
            case obs.BatchPersisted():
                self._on_batch(observation)
            case obs.RunFinished():
                self._on_run(observation)
            case obs.Committed(topic, offsets):
                self.commits.inc()
                self.partitions.committed_now(topic, offsets)
            case obs.CommitRefused():
                self.commit_failures.inc()
            case obs.PartitionsAssigned() | obs.PartitionsRevoked() | obs.PartitionsLost():
                self._rebalanced(observation.name)
            case obs.DatabaseUnavailable():
                self.database_available.set(0)
            case obs.DatabaseAvailable():
                self.database_available.set(1)
            case obs.ModelUsage():
                self._on_usage(observation)
            case obs.BudgetSpent():
                self.budget_spent.set(1)
            case obs.BudgetAvailable():
                self.budget_spent.set(0)

    # --- observations -------------------------------------------------------------------------

    def _on_turn(self, pending: int) -> None:
        self.pending.set(pending)
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
            self.partitions.refresh(self._worker)

    def _on_batch(self, batch: obs.BatchPersisted) -> None:
        self.events.inc(batch.size)
        self.batch_size.observe(batch.size)
        self.persisted.inc(batch.changed)
        for reason in batch.dead_reasons:
            self.dead_letters.labels(reason=reason).inc()
        # Topics found current while persisting need no hash: the same no-op, decided earlier.
        if batch.current:
            self.runs.labels(outcome="noop").inc(len(batch.current))
        self._last_event_wall = self._wall()
        self.last_event.set(self._last_event_wall)

    def _on_run(self, run: obs.RunFinished) -> None:
        self.runs.labels(outcome=run.outcome).inc()
        if run.outcome in ("new", "reused"):
            self.derivations.inc()
        if run.outcome != "failed":
            self._last_run_wall = self._wall()
            self.last_run.set(self._last_run_wall)
        if run.extract_s:
            self.extract_seconds.observe(run.extract_s)
        if run.replace_s:
            self.replace_seconds.observe(run.replace_s)

    def _on_usage(self, usage: obs.ModelUsage) -> None:
        model, outcome = usage.model, usage.outcome
        self.model_calls.labels(model=model, outcome=outcome).inc(usage.calls)
        for kind, tokens in (
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ):
            self.model_tokens.labels(model=model, kind=kind, outcome=outcome).inc(tokens)

    def _rebalanced(self, kind: str) -> None:
        self.rebalances.labels(kind=kind).inc()
        self._lag_at = float("-inf")  # the owned partitions changed: refresh on the next turn
