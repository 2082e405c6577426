"""MessageEvent v1: every rule of the design, and the committed JSON Schema is current."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from cardwright.schema import events
from cardwright.schema.errors import BadInput
from cardwright.schema.events import MessageEvent, parse_event
from cardwright.schema.export import SCHEMA_PATH, render


def event_dict(**overrides: Any) -> dict[str, Any]:
    base = {
        "schema_version": 1,
        "event_id": str(uuid.uuid4()),
        "op": "created",
        "message_id": "m1",
        "conversation_id": "c1",
        "topic_id": "t1",
        "user_id": "u1",
        "role": "user",
        "text": "hello",
        "created_at": "2026-01-01T10:00:00+02:00",
        "revision": 0,
        "occurred_at": "2026-01-01T10:00:00+02:00",
    }
    base.update(overrides)
    return base


def raw(**overrides: Any) -> bytes:
    return json.dumps(event_dict(**overrides)).encode()


def reason_of(value: bytes | None, key: bytes | None = b"t1") -> str:
    with pytest.raises(BadInput) as caught:
        parse_event(value, key)
    return caught.value.reason


def test_a_valid_event_parses() -> None:
    event = parse_event(raw(), b"t1")
    assert isinstance(event, MessageEvent)
    assert event.topic_id == "t1" and event.revision == 0 and not event.deleted


def test_invalid_utf8_and_json_are_told_apart() -> None:
    assert reason_of(b"\xff\xfe{") == events.REASON_INVALID_UTF8
    assert reason_of(b"{not json") == events.REASON_INVALID_JSON
    assert reason_of(None) == events.REASON_INVALID_JSON
    assert reason_of(b"[1, 2]") == events.REASON_SCHEMA


@pytest.mark.parametrize("version", [0, 2, -1, 1000])
def test_unknown_schema_versions_are_rejected(version: int) -> None:
    """An integer other than 1 is a version this service does not know (yet)."""
    assert reason_of(raw(schema_version=version)) == events.REASON_UNKNOWN_VERSION


@pytest.mark.parametrize("version", ["1", None, True, 1.0, [1], {"v": 1}])
def test_a_schema_version_that_is_not_an_integer_is_a_schema_violation(version: object) -> None:
    """No boolean for a version (True == 1 in Python), no string, no float: the type is wrong."""
    assert reason_of(raw(schema_version=version)) == events.REASON_SCHEMA


def test_a_missing_schema_version_is_a_schema_violation() -> None:
    document = event_dict()
    del document["schema_version"]
    assert reason_of(json.dumps(document).encode()) == events.REASON_SCHEMA


@pytest.mark.parametrize(
    "overrides",
    [
        {"op": "renamed"},
        {"role": "bot"},
        {"event_id": "not-a-uuid"},
        {"message_id": ""},
        {"topic_id": "x" * 129},
        {"user_id": "bad\x00id"},
        {"conversation_id": "tab\there"},
        {"created_at": "2026-01-01T10:00:00"},  # no timezone
        {"revision": -1},
        {"text": ""},  # empty text only for deletes
        {"op": "deleted", "text": "still here", "revision": 2},
        {"op": "deleted", "text": "", "revision": 0},
        {"op": "edited", "revision": 0},
        {"op": "created", "revision": 3},
        {"unexpected": "field"},
        {"text": "nul\x00inside"},  # PostgreSQL text cannot store it
    ],
)
def test_schema_violations_are_rejected(overrides: dict[str, Any]) -> None:
    assert reason_of(raw(**overrides)) == events.REASON_SCHEMA


def test_oversize_text_has_its_own_reason() -> None:
    assert reason_of(raw(text="é" * (16 * 1024 + 1))) == events.REASON_OVERSIZE
    parse_event(raw(text="a" * 32 * 1024), b"t1")  # exactly the limit is fine
    parse_event(raw(text="é" * 16 * 1024), b"t1")


def test_a_key_other_than_the_topic_id_is_rejected() -> None:
    assert reason_of(raw(), b"another-topic") == events.REASON_KEY_MISMATCH
    assert reason_of(raw(), b"T1") == events.REASON_KEY_MISMATCH


def test_a_record_without_a_key_is_rejected() -> None:
    assert reason_of(raw(), None) == events.REASON_KEY_MISMATCH


def test_the_key_is_the_topic_id_in_utf8() -> None:
    event = parse_event(raw(topic_id="thème-🎉"), "thème-🎉".encode())
    assert event.topic_id == "thème-🎉"
    assert reason_of(raw(topic_id="thème"), "thème".encode("latin-1")) == events.REASON_KEY_MISMATCH


def test_a_schema_violation_wins_over_a_wrong_key() -> None:
    assert reason_of(raw(role="bot"), None) == events.REASON_SCHEMA


def test_a_delete_is_a_tombstone() -> None:
    event = parse_event(raw(op="deleted", text="", revision=2), b"t1")
    assert event.deleted


def test_the_committed_json_schema_is_current() -> None:
    """Fails when the model changed without `python -m cardwright.schema.export`."""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render()


@pytest.mark.parametrize(
    "overrides",
    [
        {"revision": "0"},
        {"revision": True},
        {"revision": 0.0},
        {"revision": None},
        {"revision": 2**31},  # PostgreSQL integer column
        {"revision": 10**30},
        {"created_at": 1767254400},  # an epoch number is not an instant
        {"created_at": 1767254400.5},
        {"occurred_at": "1767254400"},
        {"created_at": "2026-01-01 10:00:00+02:00"},  # RFC 3339 wants T
        {"created_at": "2026-01-01t10:00:00z"},
        {"created_at": "2026-01-01T10:00+02:00"},  # seconds are not optional
        {"created_at": "2026-01-01T10:00:00+0200"},
        {"created_at": "2026-01-01T10:00:00.1234567Z"},  # finer than microseconds
        {"created_at": "2026-01-01T10:00:00,5Z"},
        {"created_at": "2026-01-01T10:00:00Z\n"},
        {"created_at": "٢٠٢٦-01-01T10:00:00Z"},  # other scripts' digits
        {"created_at": "2026-02-29T10:00:00Z"},
        {"created_at": "0000-01-01T00:00:00Z"},
        {"event_id": "6F1C2A522D0E4D559A550C9A3B0F6F01"},
        {"event_id": "{6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01}"},
        {"event_id": "urn:uuid:6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01"},
        {"event_id": 1},
        {"text": 5},
        {"text": ["hello"]},
        {"message_id": 7},
        {"topic_id": "t1\u0085"},  # C1 control character
        {"op": "Created"},
        {"role": None},
    ],
)
def test_json_types_and_shapes_are_strict(overrides: dict[str, Any]) -> None:
    assert reason_of(raw(**overrides)) == events.REASON_SCHEMA


@pytest.mark.parametrize(
    "overrides",
    [
        {"created_at": "2026-01-01T10:00:00Z"},
        {"created_at": "2026-01-01T10:00:00.5-00:00"},
        {"created_at": "2024-02-29T23:59:59.999999+23:59"},
        {"event_id": "6F1C2A52-2D0E-4D55-9A55-0C9A3B0F6F01"},
        {"revision": 2**31 - 1, "op": "edited"},
        {"created_at": "9999-12-31T23:59:59.999999Z"},
        {"created_at": "0001-01-01T00:00:00Z"},
        {"created_at": "9999-12-31T23:00:00+05:00"},
        {"created_at": "0001-01-01T01:00:00-05:00"},
    ],
)
def test_strict_forms_that_are_accepted(overrides: dict[str, Any]) -> None:
    assert parse_event(raw(**overrides), b"t1").topic_id == "t1"


@pytest.mark.parametrize("field", ["created_at", "occurred_at"])
@pytest.mark.parametrize(
    "instant",
    [
        "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
        "0001-01-01T01:00:00+05:00",  # year 0 in UTC
        "0001-01-01T00:00:00.000000+00:01",
    ],
)
def test_instants_must_lie_within_years_1_to_9999_in_utc(field: str, instant: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(raw(**{field: instant}), b"t1")
    assert caught.value.reason == events.REASON_SCHEMA
    assert "years 1..9999" in caught.value.detail and field in caught.value.detail


@pytest.mark.parametrize(
    "document",
    [
        b'{"schema_version": 1, "schema_version": 1}',
        raw()[:-1] + b', "text": "again"}',
        raw()[:-1] + b', "revision": 0}',
        raw()[:-1] + b', "text": "he:llo"}',
        raw()[:-1] + b', "te\\u0078t": "hello"}',  # the same key, escaped
        raw()[:-1] + b', "nested": {"a": 1, "a": 2}}',
        raw()[:-1] + b', "t\\u003ae": 1, "text": "x"}',
    ],
)
def test_duplicate_keys_are_bad_input(document: bytes) -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(document, b"t1")
    assert caught.value.reason == events.REASON_SCHEMA
    assert "duplicate key" in caught.value.detail


def test_colons_and_escapes_in_values_are_not_mistaken_for_duplicates() -> None:
    document = raw(text="a: b \u003a c", message_id="id:1", topic_id="t:1")
    assert parse_event(document, b"t:1").text == "a: b \u003a c"
    escaped = json.dumps(event_dict(text="naïve: ok :"), ensure_ascii=True).encode()
    assert parse_event(escaped, b"t1").text == "naïve: ok :"


def test_a_reason_never_depends_on_what_a_field_says() -> None:
    """An error message quoting "larger than" is still a schema violation, not oversize text."""
    assert reason_of(raw(role="larger than")) == events.REASON_SCHEMA


@pytest.mark.parametrize(
    "value",
    [
        b'"\\ud800"',
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b'{"x\\u003a": ' + b"[" * 900 + b"]" * 900 + b"}",
        b'{"revision": ' + b"9" * 5000 + b', "t\\u003a": 1}',
        b"NaN",
        b"\xef\xbb\xbf{}",
    ],
)
def test_awkward_json_is_bad_input_and_nothing_else(value: bytes) -> None:
    assert reason_of(value) in events.PARSE_REASONS
