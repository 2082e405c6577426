"""Offset arithmetic for consumer-group administration: reset plans and lag. Pure, no I/O.

The vocabulary is that of Kafka's ``kafka-consumer-groups --reset-offsets`` and the numbers mean
what Kafka means: a committed offset is the *next* offset to read, ``low`` is the log start
offset (earliest) and ``high`` the log end offset (latest, one past the last record).

Where the modes meet an edge, they follow that tool:

* ``--to-offset`` and ``--shift-by`` clamp a target to ``[low, high]`` and say so in the
  entry's note (the tool logs a warning and clamps the same way).
* ``--shift-by`` on a partition with no committed offset is refused, as the tool refuses it
  ("no current committed offset"): there is nothing to shift from, and guessing earliest or
  latest would silently replay or skip a whole partition.
* ``--to-datetime`` moves each partition to the first offset whose timestamp is at or after the
  time; a partition with no such record goes to its end (the tool's "falling back to latest").
  A time without a timezone is refused: the tool would read it in the machine's local zone,
  which makes the same command mean different things on different machines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cardwright.schema.errors import CardwrightError

__all__ = [
    "InvalidReplaySpec",
    "LagEntry",
    "NoCommittedOffset",
    "PartitionOffsets",
    "PlanEntry",
    "ResetMode",
    "ShiftBy",
    "ToDatetime",
    "ToEarliest",
    "ToLatest",
    "ToOffsets",
    "compute_lag",
    "parse_datetime_ms",
    "parse_offsets",
    "plan_reset",
]


class InvalidReplaySpec(CardwrightError):
    """A reset mode's argument is malformed or names something that does not exist."""

    def __init__(self, option: str, detail: str) -> None:
        super().__init__(f"{option}: {detail}")
        self.option = option
        self.detail = detail


class NoCommittedOffset(CardwrightError):
    """``--shift-by`` was asked for partitions the group has never committed."""

    def __init__(self, partitions: Sequence[int]) -> None:
        listed = ", ".join(str(p) for p in partitions)
        super().__init__(
            f"cannot shift partition(s) {listed}: the group has no committed offset there; "
            "set them first with --to-earliest, --to-latest, --to-offset or --to-datetime"
        )
        self.partitions = tuple(partitions)


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """What the cluster says about one partition of the topic, for one group."""

    partition: int
    committed: int | None  # next offset the group will read; None if it never committed
    low: int  # log start offset: the first offset still on the broker
    high: int  # log end offset: one past the last record


@dataclass(frozen=True, slots=True)
class PlanEntry:
    partition: int
    current: int | None
    target: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class LagEntry:
    partition: int
    committed: int | None
    end: int
    lag: int


@dataclass(frozen=True, slots=True)
class ToEarliest:
    name = "to-earliest"


@dataclass(frozen=True, slots=True)
class ToLatest:
    name = "to-latest"


@dataclass(frozen=True, slots=True)
class ToOffsets:
    offsets: Mapping[int, int]
    name = "to-offset"


@dataclass(frozen=True, slots=True)
class ToDatetime:
    timestamp_ms: int
    name = "to-datetime"


@dataclass(frozen=True, slots=True)
class ShiftBy:
    delta: int
    name = "shift-by"


ResetMode = ToEarliest | ToLatest | ToOffsets | ToDatetime | ShiftBy

_PAIR = re.compile(r"(-?\d+):(-?\d+)")


def parse_offsets(text: str) -> dict[int, int]:
    """Parse ``P:N[,P:N...]`` strictly: digits only, no blanks, no repeats, nothing negative."""
    option = "--to-offset"
    if not text:
        raise InvalidReplaySpec(option, "expected PARTITION:OFFSET[,PARTITION:OFFSET...]")
    offsets: dict[int, int] = {}
    for item in text.split(","):
        match = _PAIR.fullmatch(item)
        if match is None:
            raise InvalidReplaySpec(option, f"{item!r} is not PARTITION:OFFSET (e.g. 0:42)")
        partition, offset = int(match[1]), int(match[2])
        if partition < 0 or offset < 0:
            raise InvalidReplaySpec(option, f"{item!r}: partitions and offsets are >= 0")
        if partition in offsets:
            raise InvalidReplaySpec(option, f"partition {partition} is given twice")
        offsets[partition] = offset
    return offsets


def parse_datetime_ms(text: str) -> int:
    """An ISO 8601 time with a timezone, as the epoch milliseconds a Kafka timestamp uses."""
    option = "--to-datetime"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidReplaySpec(
            option, f"{text!r} is not an ISO 8601 time (e.g. 2024-05-01T12:00:00+00:00)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidReplaySpec(option, f"{text!r} has no timezone; add one, e.g. 'Z' or '+02:00'")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    # Round up: Kafka timestamps are whole milliseconds, and a record stamped in the same
    # millisecond but before a sub-millisecond time is not "at or after" it.
    millis = -(-micros // 1000)
    # Negative timestamps are sentinels in Kafka's ListOffsets (-1 latest, -2 earliest);
    # a time before the epoch simply means "every record is after it".
    return max(millis, 0)


def plan_reset(
    mode: ResetMode,
    partitions: Sequence[PartitionOffsets],
    *,
    time_offsets: Mapping[int, int | None] | None = None,
) -> list[PlanEntry]:
    """The target offset per partition for ``mode``, sorted by partition.

    ``time_offsets`` is required for :class:`ToDatetime`: per partition, the first offset whose
    timestamp is at or after the time, or ``None`` when the partition has no such record.
    ``ToOffsets`` plans only the partitions it names; every other mode plans all of them.
    """
    by_partition = {p.partition: p for p in partitions}
    ordered = [by_partition[k] for k in sorted(by_partition)]
    match mode:
        case ToEarliest():
            return [PlanEntry(p.partition, p.committed, p.low) for p in ordered]
        case ToLatest():
            return [PlanEntry(p.partition, p.committed, p.high) for p in ordered]
        case ToOffsets(offsets=offsets):
            unknown = sorted(set(offsets) - set(by_partition))
            if unknown:
                raise InvalidReplaySpec(
                    "--to-offset",
                    f"no partition {', '.join(map(str, unknown))} in the topic "
                    f"(it has {', '.join(map(str, sorted(by_partition)))})",
                )
            return [_clamped(by_partition[k], offsets[k]) for k in sorted(offsets)]
        case ToDatetime():
            if time_offsets is None:
                raise ValueError("ToDatetime needs the offsets-for-times answers")
            entries = []
            for p in ordered:
                found = time_offsets.get(p.partition)
                if found is None:
                    entries.append(
                        PlanEntry(p.partition, p.committed, p.high, "no record at/after time: end")
                    )
                else:
                    entries.append(_clamped(p, found))
            return entries
        case ShiftBy(delta=delta):
            never = [p.partition for p in ordered if p.committed is None]
            if never:
                raise NoCommittedOffset(never)
            return [_clamped(p, p.committed + delta) for p in ordered if p.committed is not None]


def _clamped(p: PartitionOffsets, wanted: int) -> PlanEntry:
    if wanted > p.high:
        return PlanEntry(p.partition, p.committed, p.high, f"{wanted} is past the end: end")
    if wanted < p.low:
        return PlanEntry(p.partition, p.committed, p.low, f"{wanted} is before the start: start")
    return PlanEntry(p.partition, p.committed, wanted)


def compute_lag(partitions: Sequence[PartitionOffsets]) -> list[LagEntry]:
    """Records the group has yet to read, per partition, sorted by partition.

    Lag is ``end - committed``, as Kafka's tool reports it. A partition the group never committed
    counts every record still on the broker (``end - low``): that is what a member starting
    there has to read before it is caught up.
    """
    entries = []
    for p in sorted(partitions, key=lambda p: p.partition):
        start = p.low if p.committed is None else p.committed
        entries.append(LagEntry(p.partition, p.committed, p.high, p.high - start))
    return entries
