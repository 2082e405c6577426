"""JSONL input: every bad line is reported with its physical line number and a reason code."""

from __future__ import annotations

import io
from typing import Any

import orjson

from cardwright.producers.jsonl import iter_lines, raw_key, read_events
from cardwright.schema.errors import BadInput
from cardwright.schema.events import (
    MAX_TEXT_BYTES,
    REASON_INVALID_JSON,
    REASON_INVALID_UTF8,
    REASON_OVERSIZE,
    REASON_SCHEMA,
    REASON_UNKNOWN_VERSION,
    MessageEvent,
)


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01",
        "op": "created",
        "message_id": "m1",
        "conversation_id": "c1",
        "topic_id": "t1",
        "user_id": "u1",
        "role": "user",
        "text": "Let's meet in Lisbon on Friday.",
        "created_at": "2024-05-01T10:00:00+00:00",
        "revision": 0,
        "occurred_at": "2024-05-01T10:00:00+00:00",
    }
    return base | changes


def line(**changes: Any) -> bytes:
    return orjson.dumps(event(**changes)) + b"\n"


def reasons(data: bytes) -> dict[int, str]:
    return {
        number: result.reason
        for number, result in read_events(io.BytesIO(data))
        if isinstance(result, BadInput)
    }


def test_valid_lines_become_events_with_their_line_numbers() -> None:
    data = line(message_id="a") + b"\n   \n" + line(message_id="b")
    results = list(read_events(io.BytesIO(data)))
    assert [n for n, _ in results] == [1, 4]
    assert all(isinstance(r, MessageEvent) for _, r in results)
    assert [r.message_id for _, r in results if isinstance(r, MessageEvent)] == ["a", "b"]


def test_invalid_json_is_reported_on_its_line() -> None:
    data = line() + b'{"schema_version": 1,\n' + line()
    assert reasons(data) == {2: REASON_INVALID_JSON}


def test_invalid_utf8_spoils_only_its_own_line() -> None:
    bad = line(text="caf\u00e9").replace("é".encode(), b"\xe9")
    data = line() + bad + line()
    assert reasons(data) == {2: REASON_INVALID_UTF8}


def test_schema_violation_names_the_field() -> None:
    data = line() + line(role="robot")
    [(number, result)] = [(n, r) for n, r in read_events(io.BytesIO(data)) if n == 2]
    assert isinstance(result, BadInput)
    assert (number, result.reason) == (2, REASON_SCHEMA)
    assert "role" in result.detail


def test_a_json_value_that_is_not_an_object_is_a_schema_violation() -> None:
    assert reasons(b"[1, 2]\n") == {1: REASON_SCHEMA}


def test_oversize_text_has_its_own_reason() -> None:
    assert reasons(line(text="x" * (MAX_TEXT_BYTES + 1))) == {1: REASON_OVERSIZE}
    assert reasons(line(text="x" * MAX_TEXT_BYTES)) == {}


def test_unknown_schema_version_has_its_own_reason() -> None:
    """An unknown version is an integer; a version of the wrong type is a schema violation."""
    assert reasons(line(schema_version=2) + line(schema_version="1")) == {
        1: REASON_UNKNOWN_VERSION,
        2: REASON_SCHEMA,
    }


def test_crlf_line_endings_and_a_missing_final_newline_are_fine() -> None:
    data = line().replace(b"\n", b"\r\n") + line().rstrip(b"\n")
    assert [n for n, r in read_events(io.BytesIO(data)) if isinstance(r, MessageEvent)] == [1, 2]


def test_text_streams_work_and_keep_undecodable_bytes_bad() -> None:
    text = io.TextIOWrapper(
        io.BytesIO(line() + b'{"x": "\xff"}\n'), encoding="utf-8", errors="surrogateescape"
    )
    results = dict(read_events(text))
    assert isinstance(results[1], MessageEvent)
    assert isinstance(results[2], BadInput)
    assert results[2].reason == REASON_INVALID_UTF8


def test_blank_lines_are_skipped_but_counted() -> None:
    assert list(iter_lines([b"\n", b"a\n", b"  \t\r\n", b"b"])) == [(2, b"a"), (4, b"b")]


def test_raw_key_is_the_topic_id_when_there_is_one() -> None:
    assert raw_key(line(topic_id="t-9").rstrip()) == b"t-9"
    assert raw_key(b'{"topic_id": 7}') is None
    assert raw_key(b"[1]") is None
    assert raw_key(b"not json") is None
    assert raw_key(b'{"topic_id": "\xff"}') is None
