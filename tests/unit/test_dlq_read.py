"""Reading DLQ records: headers, truncated copies, selection, and output safe for a terminal."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwright.consumers.dlq_read import (
    DeadLetter,
    InvalidSelection,
    Position,
    Selector,
    SourceCopies,
    bytes_text,
    details,
    make_selector,
    parse_position,
    parse_time_ms,
    shorten,
    summary,
    summary_line,
    value_preview,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HERE = Position(0, 7)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def letter(
    *,
    position: Position = HERE,
    reason: str = "key_mismatch",
    source_partition: int | None = 2,
    source_offset: int | None = 41,
    at: datetime = T0,
    key: bytes | None = b"t1",
    value: bytes | None = b'{"topic_id": "t1"}',
    extra: tuple[tuple[str, bytes | None], ...] = (),
) -> DeadLetter:
    headers: list[tuple[str, bytes | None]] = [
        ("cardwright.reason", reason.encode()),
        ("cardwright.detail", b"record key must be the event's topic_id"),
        ("cardwright.source.topic", b"events"),
    ]
    if source_partition is not None:
        headers.append(("cardwright.source.partition", str(source_partition).encode()))
    if source_offset is not None:
        headers.append(("cardwright.source.offset", str(source_offset).encode()))
    headers.append(("cardwright.consumer", b"member-1"))
    return DeadLetter(position, millis(at), key, value, (*headers, *extra))


def test_headers_are_read_into_fields() -> None:
    record = letter()
    assert (record.reason, record.source_topic, record.source_partition, record.source_offset) == (
        "key_mismatch",
        "events",
        2,
        41,
    )
    assert record.header("cardwright.consumer") == "member-1"
    assert record.header("absent") is None
    assert not record.truncated


def test_missing_or_garbled_headers_read_as_unknown() -> None:
    record = DeadLetter(Position(0, 0), None, None, None, (("cardwright.source.offset", b"x"),))
    assert (record.reason, record.source_partition, record.source_offset, record.size) == (
        "-",
        None,
        None,
        0,
    )
    assert summary_line(record).startswith("0:0  -  -  -[-]@-  key=-  0B")


@given(st.binary(min_size=1, max_size=300), st.data())
def test_a_cut_copy_is_truncated_and_a_whole_one_is_not(
    original: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    marks = (
        ("cardwright.original.size", str(len(original)).encode()),
        ("cardwright.original.sha256", hashlib.sha256(original).hexdigest().encode()),
    )
    assert letter(value=original[:cut], extra=marks).truncated
    assert not letter(value=original, extra=marks).truncated
    # Same length, other bytes: the digest tells.
    other = bytes([original[0] ^ 1]) + original[1:]
    assert letter(value=other, extra=marks).truncated


@given(st.integers(min_value=0, max_value=2**31), st.integers(min_value=0, max_value=2**62))
def test_a_position_reads_back_as_printed(partition: int, offset: int) -> None:
    assert parse_position(str(Position(partition, offset))) == Position(partition, offset)


@pytest.mark.parametrize("text", ["", "0", "0:", ":1", "-1:0", "0:-1", "a:b", "0:1:2", " 0:1"])
def test_malformed_positions_are_refused(text: str) -> None:
    with pytest.raises(InvalidSelection):
        parse_position(text)


def test_times_need_a_timezone_and_round_up_to_the_millisecond() -> None:
    assert parse_time_ms("--since", "2026-11-01T12:00:00Z") == millis(T0)
    assert parse_time_ms("--since", "2026-11-01T14:00:00+02:00") == millis(T0)
    assert parse_time_ms("--since", "2026-11-01T12:00:00.000001Z") == millis(T0) + 1
    with pytest.raises(InvalidSelection, match="no timezone"):
        parse_time_ms("--since", "2026-11-01T12:00:00")
    with pytest.raises(InvalidSelection, match="not an ISO 8601"):
        parse_time_ms("--until", "yesterday")


def test_selector_criteria_all_have_to_hold() -> None:
    records = [
        letter(position=Position(0, i), reason=r, source_partition=sp, source_offset=so, at=at)
        for i, (r, sp, so, at) in enumerate(
            [
                ("key_mismatch", 0, 10, T0),
                ("invalid_json", 0, 11, T0 + timedelta(minutes=1)),
                ("key_mismatch", 1, 12, T0 + timedelta(minutes=2)),
                ("key_mismatch", None, None, T0 + timedelta(minutes=3)),
            ]
        )
    ]

    def chosen(**options: object) -> list[int]:
        selector = make_selector(**options)  # type: ignore[arg-type]
        return [r.position.offset for r in records if selector.matches(r)]

    assert chosen() == [0, 1, 2, 3]
    assert chosen(reasons=["key_mismatch"]) == [0, 2, 3]
    assert chosen(reasons=["key_mismatch", "invalid_json"]) == [0, 1, 2, 3]
    assert chosen(source_partition=0) == [0, 1]
    assert chosen(from_offset=11) == [1, 2]  # a record without a source offset is not in a range
    assert chosen(from_offset=11, to_offset=11) == [1]
    assert chosen(since="2026-11-01T12:01:00Z") == [1, 2, 3]
    assert chosen(until="2026-11-01T12:01:00Z") == [0]  # until is exclusive
    assert chosen(reasons=["key_mismatch"], since="2026-11-01T12:01:00Z", source_partition=1) == [2]


@given(
    st.lists(st.integers(min_value=0, max_value=50), max_size=20),
    st.integers(min_value=0, max_value=50),
    st.integers(min_value=0, max_value=50),
)
def test_an_offset_range_selects_exactly_the_offsets_inside_it(
    offsets: list[int], low: int, high: int
) -> None:
    low, high = min(low, high), max(low, high)
    selector = make_selector(from_offset=low, to_offset=high)
    records = [letter(source_offset=o) for o in offsets]
    assert [r.source_offset for r in records if selector.matches(r)] == [
        o for o in offsets if low <= o <= high
    ]


def test_contradictory_or_negative_selections_are_refused() -> None:
    with pytest.raises(InvalidSelection, match="--to-offset"):
        make_selector(from_offset=5, to_offset=4)
    with pytest.raises(InvalidSelection, match="--until"):
        make_selector(since="2026-11-01T12:00:00Z", until="2026-11-01T12:00:00Z")
    with pytest.raises(InvalidSelection, match="--source-partition"):
        make_selector(source_partition=-1)
    assert make_selector().empty
    assert not make_selector(reasons=["x"]).empty
    assert Selector().matches(letter())


@given(st.binary(max_size=200))
def test_bytes_are_shown_without_control_characters(data: bytes) -> None:
    """A key or value may hold terminal escape codes or invalid UTF-8: never printed raw."""
    assert bytes_text(data).isprintable()


def test_printable_text_is_shown_as_is_and_anything_else_escaped() -> None:
    assert bytes_text("café".encode()) == "café"
    assert bytes_text(b"\x1b[31mred") == "\\x1b[31mred"
    assert bytes_text(b"\xff") == "\\xff"
    assert bytes_text(None) == "-"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=120))
def test_shortened_text_is_one_line_within_the_width(text: str, width: int) -> None:
    short = shorten(text, width)
    assert len(short) <= width
    assert "\n" not in short


def test_list_line_and_json_say_where_when_why_and_what() -> None:
    line = summary_line(letter())
    assert line == (
        "0:7  2026-11-01T12:00:00.000Z  key_mismatch  events[2]@41  key=t1  18B  "
        "record key must be the event's topic_id"
    )
    assert summary(letter()) == {
        "copies": 1,
        "dlq_partition": 0,
        "dlq_offset": 7,
        "timestamp": "2026-11-01T12:00:00.000Z",
        "reason": "key_mismatch",
        "source_topic": "events",
        "source_partition": 2,
        "source_offset": 41,
        "key": "t1",
        "size": 18,
        "truncated": False,
        "detail": "record key must be the event's topic_id",
    }


def test_show_pretty_prints_json_and_previews_other_bytes() -> None:
    assert value_preview(b'{"a":[1]}') == '{\n  "a": [\n    1\n  ]\n}'
    assert value_preview(b"null") == "null"
    assert value_preview(b"\xff" * 3000).endswith("… (952 more bytes)")
    assert value_preview(None) == "(no value)"
    shown = details(letter(value=b"\xffnot json"))
    assert (shown["value_is_json"], shown["value_json"], shown["value"]) == (
        False,
        None,
        "\\xffnot json",
    )
    assert orjson.loads(orjson.dumps(shown))["headers"][0] == ["cardwright.reason", "key_mismatch"]


def test_copies_of_one_source_record_are_one_entry_with_a_count() -> None:
    """A replay dead-letters a source record again: `dlq list` shows it once, its first copy,
    with copies=N, and `dlq redrive` publishes it once. Records without source headers stand
    for themselves."""
    first, again = letter(position=Position(0, 7)), letter(position=Position(0, 19))
    other = letter(position=Position(0, 8), source_offset=42)
    unsourced = [letter(position=Position(0, n), source_offset=None) for n in (20, 21)]
    copies = SourceCopies()
    firsts = [r for r in (first, other, again, *unsourced) if copies.add(r)]
    assert firsts == [first, other, *unsourced]
    assert [copies.of(r) for r in firsts] == [2, 1, 1, 1]
    assert summary(first, copies.of(first))["copies"] == 2
    assert summary_line(first, 2).endswith("18B  copies=2  record key must be the event's topic_id")
    assert "copies=" not in summary_line(other, 1)
