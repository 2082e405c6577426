"""Fuzzing the event parser: whatever the bytes and the key, it returns an event or raises
``BadInput`` with a known reason, never anything else.

The long run is tests/fuzz/parser_campaign.py.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwright.schema import events
from cardwright.schema.errors import BadInput
from cardwright.schema.events import duplicate_key, parse_event
from tests.fuzz.corpus import damage, encode, mutate, valid_pairs

keys = st.one_of(st.none(), st.binary(max_size=16), st.just(b"t1"))


def parses_or_bad_input(value: bytes | None, key: bytes | None) -> None:
    try:
        parse_event(value, key)
    except BadInput as bad:
        assert bad.reason in events.PARSE_REASONS, bad
        assert bad.detail


@given(st.binary(max_size=256), keys)
def test_raw_bytes_never_raise_anything_but_bad_input(value: bytes, key: bytes | None) -> None:
    parses_or_bad_input(value, key)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["schema_version", "text", "revision", "x"]), json_values))
def test_arbitrary_json_objects_never_raise_anything_but_bad_input(data: dict[str, Any]) -> None:
    parses_or_bad_input(json.dumps(data).encode(), b"t1")


@settings(max_examples=200)
@given(st.randoms(use_true_random=True), keys)
def test_mutated_and_damaged_events_never_raise_anything_but_bad_input(
    rng: random.Random, key: bytes | None
) -> None:
    pairs = valid_pairs(rng)
    for _ in range(rng.randint(1, 4)):
        pairs = mutate(rng, pairs)
    value = encode(rng, pairs)
    if rng.random() < 0.5:
        value = damage(rng, value)
    parses_or_bad_input(value, key)


# --- the fast duplicate-key check decides exactly as a full parse does ---------------------------

names = st.sampled_from(["a", "b", "a:", ":", "é", "\u003a", ""])
scalars = st.one_of(st.none(), st.integers(), st.text(alphabet="ab:\\\"\u003a'é{}", max_size=6))


@st.composite
def json_objects(draw: st.DrawFn, depth: int = 2) -> str:
    """A JSON object's text whose keys may repeat, with colons in keys and values."""
    pairs = []
    for _ in range(draw(st.integers(0, 5))):
        name = json.dumps(draw(names), ensure_ascii=draw(st.booleans()))
        if depth and draw(st.booleans()):
            value = draw(json_objects(depth=depth - 1))
        else:
            value = json.dumps(draw(scalars), ensure_ascii=draw(st.booleans()))
        pairs.append(f"{name}:{value}")
    return "{" + ",".join(pairs) + "}"


def has_duplicate(text: str) -> bool:
    found: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found.append(len({name for name, _ in pairs}) != len(pairs))
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return any(found)


@given(json_objects())
def test_the_fast_duplicate_check_agrees_with_a_full_parse(text: str) -> None:
    raw = text.encode()
    assert (duplicate_key(raw, orjson.loads(raw)) is not None) == has_duplicate(text)
