"""`consume --metrics-port`: the counters a scrape shows match what the consumer did."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cardwright.schema import events as ev
from cardwright.stack.procs import free_port
from tests.integration.conftest import Pipeline
from tests.integration.operations_support import (
    log_lines,
    probe,
    replay_to_earliest,
    sample,
    series,
    start_with_metrics,
    total,
)
from tests.integration.support import event, publish, publish_raw, read_state, stop, wait_for
from tests.integration.workload import conversation_events

pytestmark = pytest.mark.slow

# A run on the local stack settles in seconds; the margin covers a busy machine.
SETTLE_S = 120


def bad_records() -> list[tuple[str, bytes, bytes]]:
    """(reason, key, value) of records that must go to the DLQ."""
    base = orjson.loads(event("bad-topic", "bad-m", "hello").model_dump_json())
    key = b"bad-topic"
    return [
        (ev.REASON_INVALID_JSON, key, b'{"schema_version": 1, '),
        (ev.REASON_INVALID_JSON, key, b"not json at all"),
        (ev.REASON_SCHEMA, key, orjson.dumps({**base, "role": "bot"})),
    ]


def drained(port: int, records: int) -> bool:
    """Committed up to the high watermark on every partition with records, and all shown."""
    high = series(port, "cardwright_partition_high_watermark")
    used = {dict(labels)["partition"] for labels, value in high.items() if value > 0}
    lag = series(port, "cardwright_partition_lag", at="committed")
    lagging = {dict(labels)["partition"]: value for labels, value in lag.items()}
    return (
        sum(high.values()) == records
        and bool(used)
        and used <= set(lagging)
        and not any(lagging.values())
    )


def test_metrics_count_events_dead_letters_and_runs_and_a_replay_is_all_noop(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    events = conversation_events(seed=21)
    topics = {(e.user_id, e.topic_id) for e in events}
    bad = bad_records()
    publish(pipeline.bootstrap, pipeline.topic, events)
    publish_raw(pipeline.bootstrap, pipeline.topic, [(k, v) for _, k, v in bad])
    records = len(events) + len(bad)

    port = free_port()
    log = tmp_path / "first.log"
    first = start_with_metrics(pipeline.env(), port, log)
    try:
        wait_for(
            lambda: (
                sample(port, "cardwright_events_consumed_total") == records
                and sample(port, "cardwright_runs_total", outcome="new") == len(topics)
            ),
            timeout=SETTLE_S,
        )
        assert sample(port, "cardwright_dead_letters_total", reason=ev.REASON_INVALID_JSON) == 2
        assert sample(port, "cardwright_dead_letters_total", reason=ev.REASON_SCHEMA) == 1
        assert total(port, "cardwright_dead_letters_total") == len(bad)
        assert sample(port, "cardwright_runs_total", outcome="noop") == 0
        assert sample(port, "cardwright_card_sets_replaced_total") == len(topics)
        assert sample(port, "cardwright_extract_seconds_count") == len(topics)
        assert sample(port, "cardwright_replace_seconds_count") == len(topics)
        assert sample(port, "cardwright_batch_size_sum") == records
        live_messages = len({(e.user_id, e.message_id) for e in events})
        assert sample(port, "cardwright_messages_persisted_total") >= live_messages
        assert sample(port, "cardwright_rebalances_total", kind="assigned") >= 1
        assert sample(port, "cardwright_database_available") == 1
        assert probe(port, "/livez")[0] == 200
        status, body = probe(port, "/readyz")
        assert status == 200 and body["database"] is True and body["partitions"] == [0, 1, 2, 3]
        # Everything is committed: the lag at the commit watermark drains to zero, for every
        # partition that holds records.
        wait_for(lambda: drained(port, records), timeout=SETTLE_S)
        assert sample(port, "cardwright_pending_topics") == 0
    finally:
        stop(first)
    assert first.returncode == 0
    before = read_state(pipeline.engine)

    replay_to_earliest(pipeline.bootstrap, pipeline.group, pipeline.topic)
    log2 = tmp_path / "replay.log"
    second = start_with_metrics(pipeline.env(), port, log2)
    try:
        wait_for(
            lambda: (
                sample(port, "cardwright_events_consumed_total") == records
                and drained(port, records)
                and sample(port, "cardwright_pending_topics") == 0
            ),
            timeout=SETTLE_S,
        )
        # Same extractor: every topic is a no-op, and no run is new.
        assert sample(port, "cardwright_runs_total", outcome="noop") == len(topics)
        assert sample(port, "cardwright_runs_total", outcome="new") == 0
        assert sample(port, "cardwright_card_sets_replaced_total") == 0
        assert total(port, "cardwright_dead_letters_total") == len(bad)
        assert sample(port, "cardwright_messages_persisted_total") == 0
    finally:
        stop(second)
    assert read_state(pipeline.engine) == before
    # stderr is JSON lines throughout, each naming the consumer instance.
    for line in log_lines(log) + log_lines(log2):
        assert line["instance"], line
