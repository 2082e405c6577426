"""How cost grows: per-extraction time against topic length, memory against pending topics.

- ``extraction_cost``: in-process and pure, the source hash and the rules extractor over one
  topic snapshot of 10 to 10,000 messages (the work the worker does per due topic, less I/O).
- ``pending_memory``: a fresh interpreter that imports the worker (so the baseline is a real
  member's), then holds N pending topics in the worker's own ``Debouncer`` and ``Watermarks``
  (one waiting offset per topic, as after a backlog of N topics) and reports its RSS.

    python -m bench.cost memory N    # prints {"topics": N, "rss_bytes": ..., ...}
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.environment import REPO_ROOT
from bench.loadgen import BASE_TIME, _text
from cardwright.schema.cards import LiveMessage, TopicSnapshot

# Keep each size's timing to about a second: repeat small topics often, big ones a few times.
_TIME_BUDGET_S = 1.0
_MIN_REPEATS = 3


def snapshot(length: int, seed: int = 1, text_bytes: int = 240) -> TopicSnapshot:
    rng = random.Random(seed)
    messages = tuple(
        LiveMessage(
            f"m{i}",
            "user" if i % 2 else "assistant",
            BASE_TIME + timedelta(seconds=i),
            _text(rng, text_bytes),
        )
        for i in range(length)
    )
    return TopicSnapshot("user-1", "topic-1", "topic-1-conv", length, messages)


def _median_s(work: Callable[[], object]) -> float:
    times: list[float] = []
    spent = 0.0
    while len(times) < _MIN_REPEATS or spent < _TIME_BUDGET_S:
        started = time.perf_counter()
        work()
        took = time.perf_counter() - started
        times.append(took)
        spent += took
        if len(times) >= 1000:
            break
    return statistics.median(times)


def extraction_cost(lengths: list[int]) -> list[dict[str, Any]]:
    from cardwright.extractors.base import load_extractor
    from cardwright.schema.source_hash import source_hash

    extractor = load_extractor("rules")
    rows = []
    for length in lengths:
        snap = snapshot(length)
        messages = snap.messages

        def hash_once() -> object:
            return source_hash(extractor.extractor_id, messages)  # noqa: B023  (called now)

        def extract_once() -> object:
            return extractor.extract(snap)  # noqa: B023  (called now)

        hash_s = _median_s(hash_once)
        extract_s = _median_s(extract_once)
        # The extractor remembers what each message text yields, so the repeats above time a
        # re-extraction (the common case: a topic that changed). A first extraction reads new
        # texts: time it on snapshots whose texts the process has never seen.
        fresh = [snapshot(length, seed=1000 + i) for i in range(_MIN_REPEATS)]
        cold: list[float] = []
        for snap_cold in fresh:
            started = time.perf_counter()
            extractor.extract(snap_cold)
            cold.append(time.perf_counter() - started)
        extract_cold_s = statistics.median(cold)
        rows.append(
            {
                "messages": length,
                "hash_ms": round(hash_s * 1000, 3),
                "extract_ms": round(extract_s * 1000, 3),
                "extract_first_ms": round(extract_cold_s * 1000, 3),
                "hash_us_per_message": round(hash_s * 1e6 / length, 2),
                "extract_us_per_message": round(extract_s * 1e6 / length, 2),
            }
        )
    return rows


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _hold_pending(topics: int) -> dict[str, Any]:
    import cardwright.consumers.worker  # noqa: F401  (a member's imports are part of its baseline)
    from cardwright.consumers.debounce import Debouncer
    from cardwright.consumers.watermark import Watermarks

    baseline = _rss_bytes()
    debouncer: Debouncer[tuple[str, str]] = Debouncer(1.0, 10.0)
    watermarks: Watermarks[tuple[str, int], tuple[str, str]] = Watermarks()
    now = time.monotonic()
    for i in range(topics):
        key = (f"user-{i % 1000}", f"topic-{i}")
        watermarks.handled(("chat.message-events", i % 6), i // 6, key)
        debouncer.touch(key, now)
    rss = _rss_bytes()
    assert len(debouncer) == topics
    return {"topics": topics, "rss_bytes": rss, "baseline_bytes": baseline}


def pending_memory(counts: list[int]) -> list[dict[str, Any]]:
    rows = []
    for count in counts:
        out = subprocess.run(
            [sys.executable, "-m", "bench.cost", "memory", str(count)],
            capture_output=True,
            check=True,
            timeout=300,
            cwd=REPO_ROOT,
        ).stdout
        row = orjson.loads(out)
        rows.append(
            {
                "pending_topics": count,
                "rss_mb": round(row["rss_bytes"] / 2**20, 1),
                "baseline_mb": round(row["baseline_bytes"] / 2**20, 1),
                "bytes_per_topic": round((row["rss_bytes"] - row["baseline_bytes"]) / count),
            }
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "memory":
        sys.stdout.write(orjson.dumps(_hold_pending(int(sys.argv[2]))).decode() + "\n")
    else:
        sys.exit("usage: python -m bench.cost memory N")
