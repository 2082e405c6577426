"""The bench's pure parts: the seeded load, freshness from member logs, ratios and targets."""

from __future__ import annotations

import math
from typing import Any

from bench.freshness import freshness_samples, percentile
from bench.loadgen import LoadSpec, distinct_messages, generate
from bench.references import message_rows, serial_limit
from bench.report import figures, ratios, targets


def test_the_same_seed_generates_the_same_events_and_another_seed_does_not() -> None:
    spec = LoadSpec(users=3, topics=12, messages_per_topic=5, edit_rate=0.3, delete_rate=0.2)
    first, again = generate(spec), generate(spec)
    assert [e.model_dump() for e in first] == [e.model_dump() for e in again]
    other = generate(LoadSpec(**{**spec.describe(), "seed": 2}))  # type: ignore[arg-type]
    assert [e.event_id for e in other] != [e.event_id for e in first]


def test_each_message_is_created_before_it_is_edited_or_deleted() -> None:
    spec = LoadSpec(users=2, topics=20, messages_per_topic=6, edit_rate=0.5, delete_rate=0.5)
    events = generate(spec)
    seen: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.user_id, event.message_id)
        if event.revision == 0:
            assert key not in seen
        else:
            assert seen[key] < event.revision, "an edit or delete came before its create"
        seen[key] = event.revision
    assert distinct_messages(events) == spec.topics * spec.messages_per_topic
    assert any(e.op.value == "edited" for e in events)
    assert any(e.op.value == "deleted" for e in events)


def test_full_burstiness_publishes_each_topic_back_to_back() -> None:
    events = generate(LoadSpec(topics=15, messages_per_topic=4, burstiness=1.0, edit_rate=0))
    topics_in_order = [e.topic_id for e in events]
    runs = [t for i, t in enumerate(topics_in_order) if i == 0 or topics_in_order[i - 1] != t]
    assert len(runs) == 15  # every topic appears as one contiguous run


def test_copy_rows_hold_each_message_at_its_highest_revision() -> None:
    spec = LoadSpec(users=1, topics=4, messages_per_topic=5, edit_rate=1.0, delete_rate=0.0)
    events = generate(spec)
    rows = message_rows(events)
    assert len(rows) == 20
    assert {row[7] for row in rows} == {1}  # revision column: every message was edited once


def test_freshness_counts_from_produce_to_the_first_covering_run_after_the_batch() -> None:
    produced = {("u", "t1-m0", 0): 10.0, ("u", "t1-m1", 0): 10.5, ("u", "t2-m0", 0): 11.0}
    logs = [
        [
            ["assigned", 9.0],
            ["run", 10.8, "u", "t1", "new"],  # before the batch that applied t1: covers nothing
            ["batch", 11.0, [["u", "t1", "t1-m0", 0], ["u", "t1", "t1-m1", 0]]],
            ["batch", 11.2, [["u", "t2", "t2-m0", 0]]],
            ["run", 12.0, "u", "t1", "stale"],  # a stale run did not store this input
            ["run", 12.5, "u", "t1", "new"],
            ["run", 13.0, "u", "t2", "noop"],
            ["run", 14.0, "u", "t1", "new"],  # already counted
        ]
    ]
    assert sorted(freshness_samples(logs, produced)) == [2.0, 2.0, 2.5]


def test_percentiles_pick_ranked_samples() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert math.isnan(percentile([], 50))


def test_ratios_and_targets_come_from_figures_of_the_same_run() -> None:
    results: dict[str, Any] = {
        "throughput": {
            "one": {"events_per_s": 1000.0, "runs_per_topic": 1.02},
            "two": {"events_per_s": 1500.0},
        },
        "references": {
            "raw_limit_events_per_s": 4000.0,
            "raw_consume": {"events_per_s": 10_000.0},
            "naive": {"events_per_s": 40.0},
        },
        "floor": {"events_per_s": 2000.0},
        "peer": {"ran": False, "why": "not installable"},
        "replay": {"events_per_s": 5000.0},
        "freshness": {"loads": [{"fraction": 0.5, "p99_ms": 1120.0, "debounce_ms": 1000}]},
        "outage": {"peak_rss_mb": 310.0},
        "slow_extractor": {"ratio": 0.9},
        "llm_extractor": {"ratio": 0.7},
    }
    found = ratios(results)
    assert found == {
        "slow_extractor/ideal": 0.9,
        "llm/ideal": 0.7,
        "cardwright/raw_limit": 0.25,
        "cardwright/raw_consume": 0.1,
        "cardwright/naive": 25.0,
        "two_members/one_member": 1.5,
        "runs_per_topic/backlog": 1.02,
        "cardwright/extraction_floor": 0.5,
        "noop_replay/raw_consume": 0.5,
    }
    assert figures(results) == {"freshness_p99_half_load_ms": 1120.0, "rss_outage_mb": 310.0}
    verdicts = {row["target"]: row["met"] for row in targets(results, found)}
    assert verdicts["end-to-end / raw limit >= 0.6"] is False
    assert verdicts["end-to-end / naive >= 20"] is True
    assert verdicts["end-to-end / Quix Streams peer >= 1.5"] is None  # the peer did not run
    assert verdicts["p99 freshness at half load (ms) <= 1150"] is True
    assert verdicts["runs per topic on a backlog <= 1.05"] is True
    assert verdicts["end-to-end / extraction floor >= 0.6"] is False
    assert verdicts["no-op replay / raw consume >= 0.25"] is True
    assert verdicts["peak RSS through a database outage (MB) <= 300"] is False
    assert verdicts["slow extractor topics/s / ideal >= 0.8"] is True
    assert verdicts["llm extractor topics/s / ideal >= 0.8"] is False


def test_the_serial_limit_is_slower_than_either_step() -> None:
    assert serial_limit(1000.0, 1000.0) == 500.0
    assert serial_limit(100_000.0, 1000.0) < 1000.0
