"""The extraction pool under a slow extractor: topics/s against what its slots allow.

An extractor that waits ``SLEEP_S`` per topic (a model endpoint, say) and declares nothing, so a
member runs ``CONCURRENCY`` of them at once, each in its own child process (the plug-in path,
by factory spec). Ideally the member then derives ``CONCURRENCY / SLEEP_S`` topics per second;
``slow_extractor/ideal`` is the measured rate over that.

One member runs in this process (the product's ``build_worker``) and reports each stored run.
A warm-up of ``CONCURRENCY`` topics starts every child first; then ``TOPICS`` topics are
published at once and the rate is taken over their runs: ``TOPICS`` over the time from the
first run stored to the last, plus one extraction (the first wave's own wait). Debounce and
process starts are left out: they are not the pool's doing.

    python -m bench.run --only slow_extractor     # the ratio in the summary
    python -m bench.slow_extractor                # the figures alone
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.environment import Stack, bench_stack, fresh_database, fresh_topic
from bench.loadgen import publish_backlog
from cardwright.consumers import observations as obs
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.schema.events import MessageEvent
from cardwright.settings import load_settings
from cardwright.wiring import build_worker

SLEEP_S = 1.0
TOPICS = 64
CONCURRENCY = 16
# Short: the topics of a burst are due together, so the waves of extractions are full.
DEBOUNCE_MS = 200
SPEC = "bench.slow_extractor:SleepyExtractor"


class SleepyExtractor:
    """Waits, then finds nothing: all of its time is the wait."""

    extractor_id = "bench-sleepy@1"

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        time.sleep(SLEEP_S)
        return []


def _events(label: str, count: int) -> list[MessageEvent]:
    now = datetime.now(UTC)
    return [
        MessageEvent.model_validate(
            {
                "event_id": str(uuid.uuid4()),
                "op": "created",
                "message_id": f"{label}-m{n}",
                "conversation_id": f"{label}-c{n}",
                "topic_id": f"{label}-t{n}",
                "user_id": "bench",
                "role": "user",
                "text": f"message {n}",
                "created_at": now,
                "revision": 0,
                "occurred_at": now,
            }
        )
        for n in range(count)
    ]


def measure(stack: Stack, timeout_s: float = 300.0) -> dict[str, Any]:
    return measure_spec(stack, SPEC, SLEEP_S, "slow", timeout_s)


def measure_spec(
    stack: Stack, spec: str, per_topic_s: float, label: str, timeout_s: float = 300.0
) -> dict[str, Any]:
    """The topics/s of one member running extractor ``spec`` (``per_topic_s`` a topic) in
    ``CONCURRENCY`` slots, over the ideal ``CONCURRENCY / per_topic_s``; with the calls and
    tokens of all its topics, warm-up included (none for an extractor that is not metered)."""
    topic = fresh_topic(stack.bootstrap, label)
    settings = load_settings(
        kafka_bootstrap_servers=stack.bootstrap,
        database_url=fresh_database(stack.admin_database_url, label),
        events_topic=topic,
        group_id=f"bench-{label}-{uuid.uuid4().hex[:6]}",
        debounce_ms=DEBOUNCE_MS,
        extractor=spec,
        extract_concurrency=CONCURRENCY,
    )
    runs: list[float] = []
    usage: list[obs.ModelUsage] = []

    def observe(observation: obs.Observation) -> None:
        if isinstance(observation, obs.RunFinished) and observation.outcome == "new":
            runs.append(time.monotonic())
        elif isinstance(observation, obs.ModelUsage):
            usage.append(observation)

    worker = build_worker(settings, on_event=observe)
    member = threading.Thread(target=worker.run, name="bench-member", daemon=True)
    member.start()
    deadline = time.monotonic() + timeout_s

    def wait_runs(count: int) -> None:
        while len(runs) < count:
            if time.monotonic() > deadline or not member.is_alive():
                raise RuntimeError(f"{label} extractor: {len(runs)} of {count} runs in time")
            time.sleep(0.05)

    try:
        publish_backlog(stack.bootstrap, topic, _events("warm", CONCURRENCY))
        wait_runs(CONCURRENCY)
        publish_backlog(stack.bootstrap, topic, _events("measured", TOPICS))
        wait_runs(CONCURRENCY + TOPICS)
    finally:
        worker.stop()
        member.join(timeout_s)
    measured = runs[CONCURRENCY:]
    seconds = measured[-1] - measured[0] + per_topic_s
    rate = TOPICS / seconds
    ideal = CONCURRENCY / per_topic_s
    return {
        "topics": TOPICS,
        "sleep_s": per_topic_s,
        "concurrency": CONCURRENCY,
        "seconds": round(seconds, 3),
        "topics_per_s": round(rate, 2),
        "ideal_topics_per_s": ideal,
        "ratio": round(rate / ideal, 3),
        "metered_topics": CONCURRENCY + TOPICS if usage else 0,
        "calls": sum(u.calls for u in usage),
        "prompt_tokens": sum(u.prompt_tokens for u in usage),
        "completion_tokens": sum(u.completion_tokens for u in usage),
    }


if __name__ == "__main__":
    with bench_stack() as running:
        print(measure(running))
