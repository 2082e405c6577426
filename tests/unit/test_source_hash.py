"""Source hash v1: golden vectors pin the function; changing it needs a new version tag."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwright.schema.cards import LiveMessage
from cardwright.schema.events import utc_text
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


# --- Golden vectors for the edges of the contract, pinned as literals. ---------------------------
#
# Each vector lists its messages with the UTC text the design prescribes written out by hand, so
# the expected preimage does not come from the product's formatting. ``reference_hash`` is a
# second, tiny implementation of "Source hash, v1" straight from docs/design.md; the literals in
# GOLDEN were computed with it once, and both it and the product must keep producing them.

PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
PLUS_14 = timezone(timedelta(hours=14))
MINUS_1159 = timezone(-timedelta(hours=11, minutes=59))
PLUS_1 = timezone(timedelta(hours=1))

# (message_id, role, created_at, the same instant as UTC text by hand, text)
Vector = list[tuple[str, str, datetime, str, str]]

VECTORS: dict[str, Vector] = {
    "year_999": [
        ("m", "user", datetime(999, 3, 1, 22, tzinfo=UTC), "0999-03-01T22:00:00.000000Z", "old"),
        (
            "n",
            "user",
            datetime(999, 3, 2, 3, 30, tzinfo=PLUS_0530),
            "0999-03-01T22:00:00.000000Z",
            "same instant, later id",
        ),
    ],
    "year_1_and_9999": [
        (
            "last",
            "system",
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            "9999-12-31T23:59:59.999999Z",
            "the end",
        ),
        (
            "first",
            "user",
            datetime(1, 1, 1, 5, 30, 0, 1, tzinfo=PLUS_0530),
            "0001-01-01T00:00:00.000001Z",
            "the beginning",
        ),
    ],
    "offsets_across_midnight": [
        (
            "a",
            "user",
            datetime(2026, 1, 1, 0, 30, tzinfo=PLUS_1),
            "2025-12-31T23:30:00.000000Z",
            "new year in Paris",
        ),
        (
            "b",
            "assistant",
            datetime(2026, 1, 1, 13, 29, 59, 999999, tzinfo=PLUS_14),
            "2025-12-31T23:29:59.999999Z",
            "Kiribati first",
        ),
        (
            "c",
            "user",
            datetime(2025, 12, 31, 11, 31, 0, 5, tzinfo=MINUS_1159),
            "2025-12-31T23:30:00.000005Z",
            "five microseconds later",
        ),
    ],
    # Code point order: "B" < "Z" < "a" < "e\u0301" < "z" < "é" < "ｚ" < "😀"; a collation such as
    # en_US puts a, B, é together, and UTF-16 order (Java, JavaScript) puts "😀" before "ｚ".
    "ties_by_code_point": [
        (mid, "user", datetime(2026, 5, 1, 12, tzinfo=UTC), "2026-05-01T12:00:00.000000Z", text)
        for mid, text in [
            ("é", "precomposed e acute"),
            ("a", "lower a"),
            ("😀", "emoji id"),
            ("B", "upper b"),
            ("ｚ", "fullwidth z"),
            ("z", "lower z"),
            ("e\u0301", "e and a combining acute"),
            ("Z", "upper z"),
        ]
    ],
    "ties_across_offsets": [
        ("y", "user", datetime(2026, 5, 1, 14, tzinfo=PLUS_1), "2026-05-01T13:00:00.000000Z", "y"),
        ("x", "user", datetime(2026, 5, 1, 13, tzinfo=UTC), "2026-05-01T13:00:00.000000Z", "x"),
    ],
    "text_unicode": [
        (
            "t",
            "user",
            datetime(2026, 2, 3, 4, 5, 6, 70000, tzinfo=UTC),
            "2026-02-03T04:05:06.070000Z",
            'naïve "quoted" \\ back\tslash\nline\u2028sep \u0001 日本語 👍🏽 مرحبا',
        ),
    ],
}


def reference_hash(extractor_id: str, vector: Vector) -> str:
    """docs/design.md "Source hash, v1", written again without the product's code."""

    def order(item: tuple[str, str, datetime, str, str]) -> tuple[str, list[int]]:
        # Four-digit years and fixed widths make the UTC text sort as the instants do.
        return item[3], [ord(c) for c in item[0]]

    preimage = f"cardwright-source-v1\n{extractor_id}\n"
    for mid, role, _, utc, text in sorted(vector, key=order):
        preimage += json.dumps([mid, role, utc, text], separators=(",", ":"), ensure_ascii=False)
        preimage += "\n"
    return hashlib.sha256(preimage.encode("utf-8")).hexdigest()


def as_messages(vector: Vector) -> list[LiveMessage]:
    return [message(mid, text, at, role) for mid, role, at, _, text in vector]


# Computed once with reference_hash; a change here is a new source hash version.
GOLDEN = {
    "offsets_across_midnight": "2074a5885e2f390c960f600b38ecce35c4ba711d1ecb4769c0e9f4f63df1d034",
    "text_unicode": "063bacc487d42f6eb70b69248338b7b7ec8d3c7211f133a0e2e42d46bd01ce24",
    "ties_across_offsets": "52ce749cd697e918729813cfbd5f6d0275f9711987d07ab29f7ffe0e8c444ccb",
    "ties_by_code_point": "d774af798321e7ea0a3dbf4261e5e4def0ea978ba23d99ec423e69f1d3287f26",
    "year_1_and_9999": "8040b2306560ac1ec0713bcb4fbe77da6175a7252d800d96650d313ca2185df3",
    "year_999": "175f5f07a981629376fe02c2cdf8236989bb7c65a740094e11305fd44c4e9c8e",
}


def test_ties_are_ordered_by_code_point() -> None:
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    ids_in_any_order = [mid for mid, *_ in VECTORS["ties_by_code_point"]]
    lines = [
        json.dumps(
            [mid, "user", "2026-05-01T12:00:00.000000Z", text],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for mid, text in [
            ("B", "upper b"),
            ("Z", "upper z"),
            ("a", "lower a"),
            ("e\u0301", "e and a combining acute"),
            ("z", "lower z"),
            ("é", "precomposed e acute"),
            ("ｚ", "fullwidth z"),
            ("😀", "emoji id"),
        ]
    ]
    preimage = "cardwright-source-v1\nrules@1\n" + "".join(line + "\n" for line in lines)
    expected = hashlib.sha256(preimage.encode()).hexdigest()
    assert expected == GOLDEN["ties_by_code_point"]
    assert sorted(ids_in_any_order) != ids_in_any_order  # the vector is not given sorted
    assert all(at == created for _, _, created, _, _ in VECTORS["ties_by_code_point"])


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_golden_vectors_at_the_edges(name: str) -> None:
    assert reference_hash(EXTRACTOR, VECTORS[name]) == GOLDEN[name]
    assert source_hash(EXTRACTOR, as_messages(VECTORS[name])) == GOLDEN[name]


def test_the_hand_written_utc_texts_are_the_instants() -> None:
    for vector in VECTORS.values():
        for _, _, at, utc, _ in vector:
            assert (
                datetime.strptime(utc[4:], "-%m-%dT%H:%M:%S.%fZ").replace(
                    year=int(utc[:4]), tzinfo=UTC
                )
                == at
            )


def test_utc_text_always_has_four_year_digits_and_six_fraction_digits() -> None:
    assert utc_text(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000000Z"
    assert utc_text(datetime(1, 1, 1, 5, 30, tzinfo=PLUS_0530)) == "0001-01-01T00:00:00.000000Z"
    assert (
        utc_text(datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=PLUS_1)) == "2025-12-31T23:00:00.000001Z"
    )


ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=6)
# Few distinct instants, seen from many fixed offsets, so ties in created_at are common.
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.builds(
    datetime.astimezone,
    st.sampled_from(
        [
            datetime(2, 1, 1, tzinfo=UTC),
            datetime(999, 6, 1, 0, 0, 0, 1, tzinfo=UTC),
            datetime(2026, 1, 1, 12, tzinfo=UTC),
            datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ]
    ),
    offsets,
)


@given(
    st.lists(
        st.tuples(ids, st.sampled_from(["user", "assistant", "system"]), instants, st.text()),
        max_size=8,
        unique_by=lambda m: m[0],
    ),
    st.randoms(use_true_random=False),
)
def test_the_hash_is_the_reference_hash_in_any_input_order(
    items: list[Any], rng: random.Random
) -> None:
    """Ties are frequent: instants from few distinct values share created_at across offsets."""
    vector = [(mid, role, at, _utc_by_hand(at), text) for mid, role, at, text in items]
    shuffled = list(vector)
    rng.shuffle(shuffled)
    assert source_hash(EXTRACTOR, as_messages(shuffled)) == reference_hash(EXTRACTOR, vector)


def _utc_by_hand(at: datetime) -> str:
    offset = at.utcoffset()
    assert offset is not None
    naive = at.replace(tzinfo=None) - offset
    return (
        f"{naive.year:04d}-{naive.month:02d}-{naive.day:02d}T"
        f"{naive.hour:02d}:{naive.minute:02d}:{naive.second:02d}.{naive.microsecond:06d}Z"
    )
