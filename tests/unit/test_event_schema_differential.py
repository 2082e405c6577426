"""The committed JSON Schema and the parser agree: the parser accepts exactly what the schema
accepts, less what the rules JSON Schema cannot express reject (each one stated and tested here).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardwright.schema import events
from cardwright.schema.errors import BadInput
from cardwright.schema.events import parse_event
from tests.fuzz import corpus
from tests.fuzz.corpus import BEYOND_SCHEMA, VALIDATOR, expected, record, valid_pairs


def outcome(value: bytes | None, key: bytes | None) -> str:
    """``accepted`` or the reason of the rejection; nothing else may come out of the parser."""
    try:
        parse_event(value, key)
    except BadInput as bad:
        assert bad.reason in events.PARSE_REASONS
        return bad.reason
    return "accepted"


@settings(max_examples=200)
@given(st.randoms(use_true_random=True))
def test_the_parser_accepts_exactly_what_the_schema_and_the_stated_rules_accept(
    rng: random.Random,
) -> None:
    value, key = record(rng)
    verdict = expected(value, key)
    assert (outcome(value, key) == "accepted") == verdict.accept, (value, key, verdict)


@given(st.randoms(use_true_random=True))
def test_generated_valid_events_are_accepted_by_both(rng: random.Random) -> None:
    pairs = valid_pairs(rng)
    value = corpus.encode(rng, pairs)
    key = dict(pairs)["topic_id"].encode()
    assert expected(value, key).accept
    assert outcome(value, key) == "accepted"


# --- what JSON Schema cannot say: the schema accepts each of these, the parser does not. --------


def document(**changes: Any) -> dict[str, Any]:
    base = {
        "schema_version": 1,
        "event_id": "6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01",
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
    return base | changes


BEYOND = {
    corpus.DUPLICATE_KEYS: (
        json.dumps(document()).encode()[:-1] + b', "text": "again"}',
        b"t1",
        events.REASON_SCHEMA,
    ),
    corpus.INTEGER_SYNTAX: (
        json.dumps(document(revision=2.0, op="edited")).encode(),
        b"t1",
        events.REASON_SCHEMA,
    ),
    corpus.LONE_SURROGATES: (
        json.dumps(document(text="\ud800")).encode(),
        b"t1",
        events.REASON_INVALID_JSON,
    ),
    corpus.UTC_YEARS: (
        json.dumps(document(created_at="9999-12-31T23:00:00-05:00")).encode(),
        b"t1",
        events.REASON_SCHEMA,
    ),
    corpus.TEXT_BYTES: (
        json.dumps(document(text="é" * (16 * 1024 + 1))).encode(),
        b"t1",
        events.REASON_OVERSIZE,
    ),
    corpus.RECORD_KEY: (json.dumps(document()).encode(), None, events.REASON_KEY_MISMATCH),
}


def test_every_rule_beyond_the_schema_has_a_case() -> None:
    assert set(BEYOND) == set(BEYOND_SCHEMA)


@pytest.mark.parametrize("rule", BEYOND_SCHEMA)
def test_a_rule_the_schema_cannot_express(rule: str) -> None:
    value, key, reason = BEYOND[rule]
    assert VALIDATOR.is_valid(json.loads(value))
    assert expected(value, key).broken == rule
    assert outcome(value, key) == reason


@pytest.mark.parametrize(
    "changes",
    [
        {"schema_version": True},
        {"revision": "0"},
        {"created_at": 1767254400},
        {"created_at": "2026-01-01t10:00:00z"},
        {"created_at": "2026-01-01T10:00:00Z\n"},
        {"created_at": "2026-01-01T10:00:00.1234567Z"},
        {"created_at": "0000-01-01T00:00:00Z"},
        {"event_id": "6f1c2a522d0e4d559a550c9a3b0f6f01"},
        {"message_id": "m\u0085"},
        {"message_id": "m\n"},
        {"text": "a\u0000b"},
        {"text": ""},
        {"op": "deleted", "text": "", "revision": 0},
        {"op": "edited"},
        {"op": "created", "revision": 1},
        {"revision": 2**31, "op": "edited"},
    ],
)
def test_the_schema_itself_rejects_what_it_can_express(changes: dict[str, Any]) -> None:
    assert not VALIDATOR.is_valid(document(**changes))
    assert outcome(json.dumps(document(**changes)).encode(), b"t1") != "accepted"


def test_the_schema_requires_schema_version() -> None:
    without = document()
    del without["schema_version"]
    assert not VALIDATOR.is_valid(without)


def test_the_oracle_is_seeded_the_same_way_every_time() -> None:
    """The campaign's records are a function of its seed, so a mismatch can be replayed."""
    first = [record(random.Random(7)) for _ in range(3)]
    assert first == [record(random.Random(7)) for _ in range(3)]
