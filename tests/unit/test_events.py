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


def reason_of(value: bytes | None, key: bytes | None = None) -> str:
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


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_unknown_schema_versions_are_rejected(version: object) -> None:
    assert reason_of(raw(schema_version=version)) == events.REASON_UNKNOWN_VERSION


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
    parse_event(raw(text="a" * 32 * 1024))  # exactly the limit is fine


def test_a_key_other_than_the_topic_id_is_rejected() -> None:
    assert reason_of(raw(), b"another-topic") == events.REASON_KEY_MISMATCH


def test_a_delete_is_a_tombstone() -> None:
    event = parse_event(raw(op="deleted", text="", revision=2))
    assert event.deleted


def test_the_committed_json_schema_is_current() -> None:
    """Fails when the model changed without `python -m cardwright.schema.export`."""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render()
