"""Reset plans and lag follow kafka-consumer-groups' semantics (committed = next offset to read)."""

from __future__ import annotations

import pytest

from cardwright.consumers.replay_plan import (
    InvalidReplaySpec,
    LagEntry,
    NoCommittedOffset,
    PartitionOffsets,
    PlanEntry,
    ShiftBy,
    ToDatetime,
    ToEarliest,
    ToLatest,
    ToOffsets,
    compute_lag,
    parse_datetime_ms,
    parse_offsets,
    plan_reset,
)

# Partition 0: records 10..99 left after retention, group read up to 50.
# Partition 1: empty log, never committed.
# Partition 2: records 0..19, group fully caught up.
PARTS = [
    PartitionOffsets(partition=2, committed=20, low=0, high=20),
    PartitionOffsets(partition=0, committed=50, low=10, high=100),
    PartitionOffsets(partition=1, committed=None, low=0, high=0),
]


def test_to_earliest_targets_the_log_start_of_every_partition_in_order() -> None:
    assert plan_reset(ToEarliest(), PARTS) == [
        PlanEntry(0, 50, 10),
        PlanEntry(1, None, 0),
        PlanEntry(2, 20, 0),
    ]


def test_to_latest_targets_the_log_end() -> None:
    assert [e.target for e in plan_reset(ToLatest(), PARTS)] == [100, 0, 20]


def test_to_offset_plans_only_the_named_partitions() -> None:
    assert plan_reset(ToOffsets({2: 5}), PARTS) == [PlanEntry(2, 20, 5)]


def test_to_offset_clamps_to_the_log_range_and_says_so() -> None:
    plan = plan_reset(ToOffsets({0: 3, 2: 500}), PARTS)
    assert [(e.partition, e.target) for e in plan] == [(0, 10), (2, 20)]
    assert "before the start" in plan[0].note
    assert "past the end" in plan[1].note


def test_to_offset_naming_an_unknown_partition_is_an_error() -> None:
    with pytest.raises(InvalidReplaySpec, match="no partition 7"):
        plan_reset(ToOffsets({0: 12, 7: 1}), PARTS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0:5", {0: 5}), ("0:5,3:0", {0: 5, 3: 0}), ("12:123456789", {12: 123456789})],
)
def test_parse_offsets_accepts_partition_offset_pairs(text: str, expected: dict[int, int]) -> None:
    assert parse_offsets(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected PARTITION:OFFSET"),
        ("5", "not PARTITION:OFFSET"),
        ("0:5,", "not PARTITION:OFFSET"),
        ("0: 5", "not PARTITION:OFFSET"),
        ("0:5;1:2", "not PARTITION:OFFSET"),
        ("a:1", "not PARTITION:OFFSET"),
        ("0:+1", "not PARTITION:OFFSET"),
        ("0:-1", ">= 0"),
        ("-1:3", ">= 0"),
        ("1:3,1:4", "given twice"),
    ],
)
def test_parse_offsets_rejects_anything_else(text: str, message: str) -> None:
    with pytest.raises(InvalidReplaySpec, match=message):
        parse_offsets(text)


def test_shift_by_moves_from_the_committed_offset_and_clamps() -> None:
    parts = [p for p in PARTS if p.committed is not None]
    back = plan_reset(ShiftBy(-45), parts)
    assert [(e.partition, e.current, e.target) for e in back] == [(0, 50, 10), (2, 20, 0)]
    assert "before the start" in back[0].note
    forward = plan_reset(ShiftBy(30), parts)
    assert [(e.partition, e.target) for e in forward] == [(0, 80), (2, 20)]
    assert forward[0].note == ""
    assert "past the end" in forward[1].note


def test_shift_by_refuses_partitions_without_a_committed_offset() -> None:
    with pytest.raises(NoCommittedOffset, match=r"partition\(s\) 1\b") as caught:
        plan_reset(ShiftBy(-1), PARTS)
    assert caught.value.partitions == (1,)


def test_to_datetime_takes_the_first_offset_at_or_after_the_time_else_the_end() -> None:
    plan = plan_reset(ToDatetime(1_000), PARTS, time_offsets={0: 42, 1: None, 2: None})
    assert [(e.partition, e.target) for e in plan] == [(0, 42), (1, 0), (2, 20)]
    assert plan[0].note == ""
    assert "no record" in plan[2].note


def test_to_datetime_without_the_broker_answers_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="offsets-for-times"):
        plan_reset(ToDatetime(0), PARTS)


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-05-01T12:00:00+00:00", 1_714_564_800_000),
        ("2024-05-01T14:00:00+02:00", 1_714_564_800_000),
        ("2024-05-01T12:00:00.123Z", 1_714_564_800_123),
        # A record stamped ...000 ms is before ...000.5 ms, so the bound rounds up.
        ("2024-05-01T12:00:00.000500Z", 1_714_564_800_001),
        # Before the epoch: every record is after it; never a negative (sentinel) timestamp.
        ("1960-01-01T00:00:00Z", 0),
    ],
)
def test_parse_datetime_gives_epoch_milliseconds(text: str, millis: int) -> None:
    assert parse_datetime_ms(text) == millis


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-05-01T12:00:00", "no timezone"),
        ("2024-05-01", "no timezone"),
        ("yesterday", "not an ISO 8601 time"),
        ("", "not an ISO 8601 time"),
    ],
)
def test_parse_datetime_rejects_naive_or_malformed_times(text: str, message: str) -> None:
    with pytest.raises(InvalidReplaySpec, match=message):
        parse_datetime_ms(text)


def test_lag_is_end_minus_committed_and_counts_the_whole_log_when_never_committed() -> None:
    parts = [*PARTS, PartitionOffsets(partition=3, committed=None, low=5, high=9)]
    assert compute_lag(parts) == [
        LagEntry(0, 50, 100, 50),
        LagEntry(1, None, 0, 0),
        LagEntry(2, 20, 20, 0),
        LagEntry(3, None, 9, 4),
    ]
