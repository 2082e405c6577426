"""Freshness: from an event's produce time to the commit of cards that include it.

A producer thread publishes at a fixed offered rate while one member consumes. The member logs
every batch it applied and every run it committed (``bench.member --detail``); an event's cards
are committed at the first run of its topic that follows the batch that applied it (the worker
is one thread, so that run read a snapshot taken after the event was persisted).

The load is bursty on purpose (each topic's messages back to back, then quiet), as chats are: a
topic is then extracted once per burst, ``debounce`` after its last message.

Steady state, not cold start: before the measured stream, the producer publishes a few warm-up
topics of their own and waits until the member has derived their cards. Without it the first
second's events carry the producer's connection and producer-id set-up and the member's first
fetch, up to ~0.7 s each, and they alone made the p99 of a 20 s run.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench.completion import cards_current, wait_done
from bench.loadgen import LoadSpec, generate
from bench.pipeline import BENCH_DEBOUNCE_MS, Members, Target
from cardwright.consumers.group_admin import GroupAdmin
from cardwright.producers.publisher import Publisher
from cardwright.schema.events import MessageEvent, Op, Role
from cardwright.storage.engine import make_engine

# Outcomes whose commit means "the cards include this event" (a no-op: they already did).
_COVERING = frozenset({"new", "reused", "noop"})
# Joining the group takes a few seconds on a busy 2-core machine; production waits for it.
JOIN_TIMEOUT_S = 60
# Topics published and derived before the measured stream (see the module's docstring).
WARMUP_TOPICS = 5


class PacedProducer(threading.Thread):
    """Publishes ``events`` at ``rate`` per second and records each one's produce time."""

    def __init__(
        self, bootstrap: str, topic: str, events: Sequence[MessageEvent], rate: float
    ) -> None:
        super().__init__(name="paced-producer", daemon=True)
        self.publisher = Publisher({"bootstrap.servers": bootstrap}, topic)
        self.events = events
        self.rate = rate
        self.produced: dict[tuple[str, str, int], float] = {}
        self.lag_behind_s = 0.0  # how far the producer fell behind its schedule at worst

    def warm_up(self, events: Sequence[MessageEvent]) -> None:
        """Publish ``events`` (never measured) and wait for their acknowledgement."""
        for event in events:
            self.publisher.publish(event)
        self.publisher.flush(60)

    def run(self) -> None:
        start = time.time()
        for index, event in enumerate(self.events):
            due = start + index / self.rate
            now = time.time()
            if due > now:
                time.sleep(due - now)
                now = time.time()
            self.lag_behind_s = max(self.lag_behind_s, now - due)
            self.produced[(event.user_id, event.message_id, event.revision)] = now
            self.publisher.publish(event)
        self.publisher.flush(60)


def freshness_samples(
    logs: list[list[list[Any]]], produced: dict[tuple[str, str, int], float]
) -> list[float]:
    """Seconds from produce to the covering cards commit, one per event, from the member logs."""
    waiting: dict[tuple[str, str], list[float]] = defaultdict(list)
    samples: list[float] = []
    lines = sorted((line for log in logs for line in log), key=lambda line: line[1])
    for line in lines:
        if line[0] == "batch":
            for user, topic, message, revision in line[2]:
                at = produced.get((user, message, revision))
                if at is not None:
                    waiting[(user, topic)].append(at)
        elif line[0] == "run" and line[4] in _COVERING:
            for at in waiting.pop((line[2], line[3]), []):
                samples.append(line[1] - at)
    return samples


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least q% of samples at or below it."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def measure(
    target: Target, rate: float, duration_s: float, seed: int, timeout_s: float
) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``duration_s`` and report freshness percentiles in ms."""
    per_topic = 10
    topics = max(1, int(rate * duration_s / per_topic))
    spec = LoadSpec(
        users=max(1, topics // 10),
        topics=topics,
        messages_per_topic=per_topic,
        burstiness=1.0,
        edit_rate=0.0,
        delete_rate=0.0,
        seed=seed,
    )
    events = generate(spec)
    engine = make_engine(target.database_url)
    members = Members(target, 1, detail=True)
    try:
        _wait_joined(target)
        producer = PacedProducer(target.stack.bootstrap, target.topic, events, rate)
        producer.warm_up(warmup_events(WARMUP_TOPICS))
        wait_done(
            target.stack.bootstrap,
            target.group,
            target.topic,
            lambda: cards_current(engine, WARMUP_TOPICS),
            timeout_s,
            members.alive,
        )
        producer.start()
        producer.join()
        wait_done(
            target.stack.bootstrap,
            target.group,
            target.topic,
            lambda: cards_current(engine, WARMUP_TOPICS + topics),
            timeout_s,
            members.alive,
        )
    finally:
        logs = members.stop()
        engine.dispose()
    samples = freshness_samples(logs, producer.produced)
    return {
        "offered_events_per_s": round(rate, 1),
        "events": len(events),
        "samples": len(samples),
        "debounce_ms": BENCH_DEBOUNCE_MS,
        "producer_behind_ms": round(producer.lag_behind_s * 1000, 1),
        "p50_ms": round(percentile(samples, 50) * 1000, 1),
        "p95_ms": round(percentile(samples, 95) * 1000, 1),
        "p99_ms": round(percentile(samples, 99) * 1000, 1),
        "max_ms": round(max(samples, default=float("nan")) * 1000, 1),
    }


def warmup_events(count: int) -> list[MessageEvent]:
    """One message in each of ``count`` topics of a user of their own (no load id collides)."""
    now = datetime.now(UTC)
    return [
        MessageEvent(
            event_id=uuid.uuid4(),
            op=Op.CREATED,
            message_id=f"warmup-{i}",
            conversation_id="bench-warmup",
            topic_id=f"warmup-{i}",
            user_id="bench-warmup",
            role=Role.USER,
            text="Warm-up: let's meet on Friday at the office.",
            created_at=now,
            revision=0,
            occurred_at=now,
        )
        for i in range(count)
    ]


def _wait_joined(target: Target) -> None:
    admin = GroupAdmin({"bootstrap.servers": target.stack.bootstrap})
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while time.monotonic() < deadline:
        info = admin.describe_group(target.group)
        if info.state == "STABLE" and info.members:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the member did not join group {target.group} in {JOIN_TIMEOUT_S}s")
