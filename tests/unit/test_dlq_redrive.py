"""Redrive planning: re-keyed by topic_id, original bytes kept, unusable records skipped."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cardwright.consumers.dlq_read import DeadLetter, Position
from cardwright.consumers.redrive import (
    HEADER_REDRIVEN_FROM,
    SKIP_NO_TOPIC_ID,
    SKIP_TRUNCATED,
    Redrive,
    Skip,
    plan_redrive,
)
from cardwright.schema.errors import BadInput
from cardwright.schema.events import REASON_KEY_MISMATCH, parse_event


def letter(
    value: bytes | None, key: bytes | None = b"wrong", *marks: tuple[str, bytes]
) -> DeadLetter:
    headers = (("cardwright.reason", b"key_mismatch"), *marks)
    return DeadLetter(Position(1, 99), 0, key, value, headers)


def event_bytes(topic_id: str) -> bytes:
    moment = datetime(2026, 11, 1, tzinfo=UTC).isoformat()
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": str(uuid.uuid4()),
            "op": "created",
            "message_id": "m1",
            "conversation_id": "c1",
            "topic_id": topic_id,
            "user_id": "u1",
            "role": "user",
            "text": "hello",
            "created_at": moment,
            "revision": 0,
            "occurred_at": moment,
        }
    )


def test_a_key_mismatch_record_is_rekeyed_by_its_topic_id_and_keeps_its_bytes() -> None:
    value = event_bytes("t-7")
    plan = plan_redrive(letter(value))
    assert plan == Redrive(Position(1, 99), b"t-7", value, ((HEADER_REDRIVEN_FROM, b"1:99"),))
    # The member accepts what the redrive publishes.
    assert parse_event(plan.value, plan.key).topic_id == "t-7"


@given(st.text(min_size=1, max_size=128).filter(lambda s: "\x00" not in s))
def test_a_planned_key_is_always_the_values_topic_id(topic_id: str) -> None:
    """Whatever the topic_id, the redriven key is its UTF-8: the member never dead-letters a
    redriven record for its key."""
    value = event_bytes(topic_id)
    plan = plan_redrive(letter(value))
    assert isinstance(plan, Redrive)
    assert plan.key == topic_id.encode("utf-8")
    assert plan.value == value
    try:
        parse_event(plan.value, plan.key)
    except BadInput as exc:  # other rules (control characters) may still refuse it
        assert exc.reason != REASON_KEY_MISMATCH


@given(st.binary(max_size=200))
def test_any_value_is_either_planned_with_its_topic_id_or_skipped(value: bytes) -> None:
    plan = plan_redrive(letter(value))
    if isinstance(plan, Skip):
        assert plan.reason == SKIP_NO_TOPIC_ID
    else:
        assert orjson.loads(value)["topic_id"].encode() == plan.key
        assert plan.value == value


def test_values_without_a_usable_topic_id_are_skipped_with_a_reason() -> None:
    for value in (None, b"\xff", b"{oops", b"[]", b'{"topic_id": 7}', b'{"topic_id": ""}', b"{}"):
        plan = plan_redrive(letter(value))
        assert isinstance(plan, Skip), value
        assert plan.reason == SKIP_NO_TOPIC_ID
        assert plan.text().startswith("1:99: not redriven: no_topic_id: ")


def test_a_truncated_copy_is_never_redriven() -> None:
    original = event_bytes("t-big")
    marks = (
        ("cardwright.original.size", str(len(original)).encode()),
        ("cardwright.original.sha256", hashlib.sha256(original).hexdigest().encode()),
    )
    plan = plan_redrive(letter(original[:50], b"t-big", *marks))
    assert isinstance(plan, Skip)
    assert plan.reason == SKIP_TRUNCATED
    assert f"50 of {len(original)} bytes" in plan.detail
    # A copy marked with the original's size and digest, but whole, is the record itself.
    assert isinstance(plan_redrive(letter(original, b"t-big", *marks)), Redrive)
