"""Source hash v1: golden vectors pin the function; changing it needs a new version tag."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from cardwright.schema.cards import LiveMessage
from cardwright.schema.source_hash import source_hash

EXTRACTOR = "rules@1"
PLUS_2 = timezone(timedelta(hours=2))
MINUS_0530 = timezone(-timedelta(hours=5, minutes=30))


def message(mid: str, text: str, at: datetime, role: str = "user") -> LiveMessage:
    return LiveMessage(message_id=mid, role=role, created_at=at, text=text)


def test_empty_topic_hashes_only_the_header() -> None:
    expected = hashlib.sha256(b"cardwright-source-v1\nrules@1\n").hexdigest()
    assert source_hash(EXTRACTOR, []) == expected
    assert expected == "2899cd9b60bd856aed5d72fda8cb632cd2f9bbd5e43566669dff72b431474520"


def test_preimage_follows_the_spec_literally() -> None:
    """Non-ASCII and emoji stay unescaped, timestamps become UTC with microseconds."""
    messages = [
        message("m2", "Café at 10? 🎉", datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=PLUS_2)),
        message(
            "m1", 'He said "ok"\nnew line', datetime(2026, 3, 1, 9, 59, 59, tzinfo=UTC), "assistant"
        ),
    ]
    preimage = (
        "cardwright-source-v1\nrules@1\n"
        '["m1","assistant","2026-03-01T09:59:59.000000Z","He said \\"ok\\"\\nnew line"]\n'
        '["m2","user","2026-03-01T10:00:00.000005Z","Café at 10? 🎉"]\n'
    )
    assert source_hash(EXTRACTOR, messages) == hashlib.sha256(preimage.encode()).hexdigest()


def test_golden_vectors_are_stable() -> None:
    vectors = {
        "ascii": [message("a", "hello", datetime(2026, 1, 1, tzinfo=UTC))],
        "offsets_and_micros": [
            message("x", "naïve résumé", datetime(2026, 1, 1, 1, 2, 3, 456789, tzinfo=MINUS_0530)),
            message("y", "日本語のテキスト", datetime(2026, 1, 1, 6, 32, 3, 456789, tzinfo=UTC)),
        ],
        "emoji": [
            message("e", "👍🏽 ship it 🚀", datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
        ],
    }
    got = {name: source_hash(EXTRACTOR, msgs) for name, msgs in vectors.items()}
    assert got == PINNED


# Computed once from the spec and pinned; a change here is a new source hash version.
PINNED = {
    "ascii": "12e74c0d2657315343332cb16014a2409294a7c2363bd5c5db5551e6a2e2c73b",
    "offsets_and_micros": "6a6f761afb874537ecfb13b9433f75ef41d44a16bc9f96f36622c2b76a5e276b",
    "emoji": "7abc467cfeaa7c8af591b88d9055a1134759d3769a3d924265d4873cc14156c6",
}


def test_order_is_by_created_at_then_message_id() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    same_time = [message("b", "two", at), message("a", "one", at)]
    assert source_hash(EXTRACTOR, same_time) == source_hash(EXTRACTOR, list(reversed(same_time)))
    a_first = hashlib.sha256(
        b"cardwright-source-v1\nrules@1\n"
        b'["a","user","2026-01-01T00:00:00.000000Z","one"]\n'
        b'["b","user","2026-01-01T00:00:00.000000Z","two"]\n'
    ).hexdigest()
    assert source_hash(EXTRACTOR, same_time) == a_first


def test_the_same_instant_in_another_timezone_hashes_the_same() -> None:
    utc = [message("a", "x", datetime(2026, 1, 1, 12, tzinfo=UTC))]
    local = [message("a", "x", datetime(2026, 1, 1, 14, tzinfo=PLUS_2))]
    assert source_hash(EXTRACTOR, utc) == source_hash(EXTRACTOR, local)


def test_the_extractor_id_is_part_of_the_hash() -> None:
    msgs = [message("a", "x", datetime(2026, 1, 1, tzinfo=UTC))]
    assert source_hash("rules@1", msgs) != source_hash("rules@2", msgs)
