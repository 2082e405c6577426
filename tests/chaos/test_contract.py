"""The checker's own contract (``contract``): golden vectors for the source hash and card ids,
and the strict parser's verdict on each rule of DESIGN.md "Message event". No services.

The hex literals were computed outside Python, with ``printf ... | sha256sum`` over the preimage
the design describes (the preimages are spelled out below), or, for "offsets_and_micros", are the
product's own pinned vector (tests/unit/test_source_hash.py): two implementations, one design.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.chaos.contract import (
    MAX_TEXT_BYTES,
    Live,
    card_id,
    classify,
    ordered,
    source_hash,
    utc_text,
)

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
IST = timezone(timedelta(hours=5, minutes=30))
PLUS_2 = timezone(timedelta(hours=2))
MINUS_0530 = timezone(-timedelta(hours=5, minutes=30))


def test_source_hash_golden_vectors() -> None:
    # printf 'cardwright-source-v1\noracle@1\n' | sha256sum
    assert source_hash("oracle@1", ()) == (
        "b0d0f438d6b49e85331c01ca13c259bf32f1cd3712c3f7ebe3b15348831b7378"
    )
    # Preimage: the header, then, ordered by created_at and ties by code point (U+FF5E before
    # U+1F4AC), the year with four digits:
    #   ["a","system","0099-06-01T10:30:00.000005Z","say \"hi\"\n"]
    #   ["～1","user","2026-11-01T09:00:00.000001Z","é 😀"]
    #   ["💬2","assistant","2026-11-01T09:00:00.000001Z","b"]
    messages = [
        Live("💬2", "assistant", datetime(2026, 11, 1, 9, 0, 0, 1, tzinfo=UTC), "b"),
        Live("～1", "user", datetime(2026, 11, 1, 14, 30, 0, 1, tzinfo=IST), "é 😀"),
        Live("a", "system", datetime(99, 6, 1, 12, 30, 0, 5, tzinfo=PLUS_2), 'say "hi"\n'),
    ]
    assert source_hash("oracle@1", messages) == (
        "9eefbe232c01c6ca51a178968482152a2c335f216ee911e2899b4c714fb0368e"
    )
    tie = [
        Live("y", "user", datetime(2026, 1, 1, 6, 32, 3, 456789, tzinfo=UTC), "日本語のテキスト"),
        Live("x", "user", datetime(2026, 1, 1, 1, 2, 3, 456789, tzinfo=MINUS_0530), "naïve résumé"),
    ]
    assert source_hash("rules@1", tie) == (
        "6a6f761afb874537ecfb13b9433f75ef41d44a16bc9f96f36622c2b76a5e276b"
    )


def test_card_id_golden_vectors() -> None:
    # printf 'user-1\037thème-05\037<sha256 of nothing>\0370' | sha256sum | cut -c1-32
    assert card_id("user-1", "thème-05", EMPTY_SHA256, 0) == "70a7f606f6947167cf877386eb3d6b7d"
    # printf 'u\037t\037abc\03712' | sha256sum | cut -c1-32
    assert card_id("u", "t", "abc", 12) == "a0d5a27e3e0c108eadd0acde960237a0"


def test_utc_text_always_prints_four_digit_years_and_microseconds() -> None:
    assert utc_text(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000Z"
    assert utc_text(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-5)))) == (
        "0001-01-01T05:00:00.000000Z"
    )
    assert utc_text(datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-3)))) == (
        "9999-12-31T23:00:00.000000Z"
    )


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=4),
            st.sampled_from([0, 330, -480, 840]),
            st.integers(0, 3),
        ),
        max_size=6,
        unique_by=lambda t: t[0],
    )
)
def test_the_order_is_the_instant_then_the_code_points_whatever_the_offsets(
    spec: list[tuple[str, int, int]],
) -> None:
    """Invariant: the source hash depends on the instants only, not on their offsets or on the
    order the messages come in; ties go by message_id in code point order."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    messages = [
        Live(
            mid,
            "user",
            (base + timedelta(seconds=s)).astimezone(timezone(timedelta(minutes=o))),
            "t",
        )
        for mid, o, s in spec
    ]
    in_utc = [Live(m.message_id, m.role, m.created_at.astimezone(UTC), m.text) for m in messages]
    assert source_hash("x@1", messages) == source_hash("x@1", list(reversed(in_utc)))
    keys = [
        (m.created_at.astimezone(UTC), [ord(c) for c in m.message_id]) for m in ordered(messages)
    ]
    assert keys == sorted(keys)


# --- the strict parser ---------------------------------------------------------------------------


def valid(**over: Any) -> dict[str, Any]:
    document = {
        "schema_version": 1,
        "event_id": "0b9d2c4e-5f1a-4c3b-9d8e-7f6a5b4c3d2e",
        "op": "edited",
        "message_id": "m1",
        "conversation_id": "c",
        "topic_id": "t",
        "user_id": "u",
        "role": "user",
        "text": "hello",
        "created_at": "2026-11-01T09:00:00.000001+05:30",
        "revision": 1,
        "occurred_at": "2026-11-01T09:00:01Z",
    }
    return document | over


def reasons(document: dict[str, Any] | bytes, key: bytes | None = b"t") -> set[str]:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    event, why = classify(key, raw)
    assert (event is None) == bool(why)
    return set(why)


def test_a_valid_event_has_no_reason_and_keeps_its_fields() -> None:
    event, why = classify(
        b"t", json.dumps(valid(event_id="0B9D2C4E5F1A4C3B9D8E7F6A5B4C3D2E")).encode()
    )
    assert why == frozenset() and event is not None
    assert event.event_id == "0b9d2c4e-5f1a-4c3b-9d8e-7f6a5b4c3d2e"  # canonical form
    assert event.created_at == datetime(2026, 11, 1, 3, 30, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"revision": "1"}, {"schema_violation"}),
        ({"revision": True}, {"schema_violation"}),
        ({"revision": 1.0}, {"schema_violation"}),
        ({"revision": -1}, {"schema_violation"}),
        ({"schema_version": True}, {"schema_violation", "unknown_schema_version"}),
        ({"schema_version": "1"}, {"schema_violation", "unknown_schema_version"}),
        ({"schema_version": 2}, {"unknown_schema_version"}),
        ({"created_at": 1793523600}, {"schema_violation"}),
        ({"created_at": "2026-11-01T09:00:00"}, {"schema_violation"}),  # no offset
        ({"created_at": "9999-12-31T23:00:00-05:00"}, {"schema_violation"}),
        ({"occurred_at": "0001-01-01T01:00:00+05:00"}, {"schema_violation"}),
        ({"created_at": "0001-01-01T00:00:00-05:00"}, set()),
        ({"created_at": "9999-12-31T23:59:59.999999+00:00"}, set()),
        ({"event_id": 12345}, {"schema_violation"}),
        ({"event_id": "not-a-uuid"}, {"schema_violation"}),
        ({"role": "robot"}, {"schema_violation"}),
        ({"op": "created"}, {"schema_violation"}),  # revision 1
        ({"op": "deleted"}, {"schema_violation"}),  # text not empty
        ({"op": "deleted", "text": ""}, set()),
        ({"op": "deleted", "text": "", "revision": 0}, {"schema_violation"}),
        ({"revision": 0}, {"schema_violation"}),  # an edit at 0
        ({"text": ""}, {"schema_violation"}),
        ({"text": "a\x00b"}, {"schema_violation", "refused_by_database"}),
        ({"message_id": "😀" * 128}, set()),
        ({"message_id": "😀" * 129}, {"schema_violation"}),
        ({"message_id": ""}, {"schema_violation"}),
        ({"user_id": "u\x07"}, {"schema_violation"}),
        ({"user_id": "u\x85"}, {"schema_violation"}),  # a C1 control
        ({"extra": 1}, {"schema_violation"}),
        ({"text": "é" * (MAX_TEXT_BYTES // 2)}, set()),  # exactly 32 KiB of UTF-8
        ({"text": "😀" * (MAX_TEXT_BYTES // 4) + "a"}, {"oversize_text"}),  # one byte over
        (
            {"text": "😀" * (MAX_TEXT_BYTES // 4) + "a", "role": "robot"},
            {"oversize_text", "schema_violation"},
        ),
    ],
)
def test_each_rule_of_the_schema(over: dict[str, Any], expected: set[str]) -> None:
    assert reasons(valid(**over)) == expected


def test_a_missing_field_is_a_schema_violation() -> None:
    document = valid()
    del document["occurred_at"]
    assert reasons(document) == {"schema_violation"}


def test_the_key_must_be_present_and_equal_the_topic_id() -> None:
    assert reasons(valid(topic_id="thème"), key="thème".encode()) == set()
    assert reasons(valid(), key=None) == {"key_mismatch"}
    assert reasons(valid(), key=b"other") == {"key_mismatch"}


def test_bytes_and_json_level_problems() -> None:
    body = json.dumps(valid()).encode()
    assert reasons(b"\xff" + body) == {"invalid_utf8"}
    assert reasons(body[:20]) == {"invalid_json"}
    assert reasons(json.dumps(valid(revision=float("nan"))).encode()) == {"invalid_json"}
    assert reasons(b'{"text": "a", ' + body[1:]) == {"invalid_json", "schema_violation"}
    assert reasons(b"[1, 2]") == {"schema_violation"}
    lone = json.dumps(valid(text="\ud800")).encode()  # an escaped lone surrogate
    assert reasons(lone) == {"invalid_json", "schema_violation", "invalid_utf8"}
    assert classify(b"t", None)[1] == {"invalid_json", "schema_violation"}
