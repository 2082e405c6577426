"""Generated Kafka records for the event parser, and the JSON Schema oracle they are judged by.

``record(rng)`` draws one (value, key) pair from a ``random.Random``: mostly valid events with
zero to three mutations (wrong JSON types, duplicate keys, out-of-range or malformed instants,
missing and extra fields, oversize text, bad ids, wrong keys, inconsistent op/revision/text),
written out with varied spacing and escaping, plus damaged bytes and raw noise. The same
generator feeds hypothesis (through ``st.randoms``) in tests/unit and the long campaign in
``parser_campaign.py``.

``expected(value, key)`` says whether the parser must accept the record: the committed JSON
Schema (``jsonschema``, formats checked) accepts the decoded value, and the rules JSON Schema
cannot express hold. Those are listed in ``BEYOND_SCHEMA``, each checked here without the
product's code and tested on its own in tests/unit/test_event_schema_differential.py.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator

from cardwright.schema.export import SCHEMA_PATH

Pairs = list[tuple[str, Any]]

FIELDS = (
    "schema_version",
    "event_id",
    "op",
    "message_id",
    "conversation_id",
    "topic_id",
    "user_id",
    "role",
    "text",
    "created_at",
    "revision",
    "occurred_at",
)
TEXT_LIMIT = 32 * 1024
MAX_REVISION = 2**31 - 1

# What the parser enforces and the JSON Schema cannot say, with the oracle's check for each.
DUPLICATE_KEYS = "a key occurs twice in an object"
INTEGER_SYNTAX = "an integer written with a fraction or exponent (JSON Schema's 1.0 is an integer)"
LONE_SURROGATES = "a string escapes a lone surrogate (not Unicode text; the parser's JSON fails)"
UTC_YEARS = "an instant outside years 1..9999 once converted to UTC"
TEXT_BYTES = "text over 32768 bytes of UTF-8 (maxLength counts code points)"
RECORD_KEY = "the record key is missing or is not the UTF-8 topic_id"
BEYOND_SCHEMA = (DUPLICATE_KEYS, INTEGER_SYNTAX, LONE_SURROGATES, UTC_YEARS, TEXT_BYTES, RECORD_KEY)

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --- the oracle -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    decoded: bool  # UTF-8 and JSON per the json module
    schema_valid: bool  # the committed JSON Schema accepts it
    broken: str | None  # the first rule of BEYOND_SCHEMA it breaks, if the schema accepts it

    @property
    def accept(self) -> bool:
        return self.schema_valid and self.broken is None


class _Duplicate(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def expected(value: bytes | None, key: bytes | None) -> Verdict:
    """What the contract says of this record, from the JSON Schema and BEYOND_SCHEMA alone."""
    if value is None:
        return Verdict(False, False, None)
    duplicates: list[str] = []

    def pairs_hook(pairs: Pairs) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            duplicates.append(names[0])
        return dict(pairs)

    try:
        document = json.loads(
            value.decode("utf-8"), object_pairs_hook=pairs_hook, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        return Verdict(False, False, None)
    if not VALIDATOR.is_valid(document):
        return Verdict(True, False, None)
    return Verdict(True, True, _broken_rule(document, duplicates, key))


def _broken_rule(document: dict[str, Any], duplicates: list[str], key: bytes | None) -> str | None:
    if duplicates:
        return DUPLICATE_KEYS
    if type(document["schema_version"]) is not int or type(document["revision"]) is not int:
        return INTEGER_SYNTAX
    try:
        for name, field in document.items():
            name.encode("utf-8")
            if isinstance(field, str):
                field.encode("utf-8")
    except UnicodeEncodeError:
        return LONE_SURROGATES
    for name in ("created_at", "occurred_at"):
        try:
            datetime.fromisoformat(document[name]).astimezone(UTC)
        except OverflowError:
            return UTC_YEARS
    if len(document["text"].encode("utf-8")) > TEXT_LIMIT:
        return TEXT_BYTES
    if key != document["topic_id"].encode("utf-8"):
        return RECORD_KEY
    return None


# --- valid events ---------------------------------------------------------------------------------

_ID_ALPHABET = "abcxyzABCXYZ0189-_.:@/ éüßñ日本語😀ｚ\u2028\u00a0"
_TEXT_ALPHABET = _ID_ALPHABET + ' "\\\n\t{}[],:\u0085\u0001'


def _string(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choices(alphabet, k=rng.randint(low, high)))


def identifier(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return _string(rng, _ID_ALPHABET, 128, 128)
    return _string(rng, _ID_ALPHABET, 1, 12)


def instant(rng: random.Random) -> str:
    """A valid RFC 3339 instant, well inside years 1..9999 in UTC, in varied forms."""
    year = rng.choice((rng.randint(2, 9998), 2026, 999, 1000))
    month = rng.randint(1, 12)
    day = rng.randint(1, 28 if month == 2 else 30)
    text = f"{year:04d}-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    text += f":{rng.randint(0, 59):02d}"
    digits = rng.choice((0, 0, 1, 3, 6))
    if digits:
        text += "." + "".join(rng.choices("0123456789", k=digits))
    if rng.random() < 0.3:
        return text + "Z"
    sign = rng.choice("+-")
    return text + f"{sign}{rng.randint(0, 23):02d}:{rng.choice((0, 30, 45, 59)):02d}"


def valid_pairs(rng: random.Random) -> Pairs:
    op = rng.choice(("created", "created", "edited", "deleted"))
    revision = 0 if op == "created" else rng.choice((1, 2, rng.randint(1, MAX_REVISION)))
    text = "" if op == "deleted" else _string(rng, _TEXT_ALPHABET, 1, 40)
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    pairs: Pairs = [
        ("schema_version", 1),
        ("event_id", event_id.upper() if rng.random() < 0.1 else event_id),
        ("op", op),
        ("message_id", identifier(rng)),
        ("conversation_id", identifier(rng)),
        ("topic_id", identifier(rng)),
        ("user_id", identifier(rng)),
        ("role", rng.choice(("user", "assistant", "system"))),
        ("text", text),
        ("created_at", instant(rng)),
        ("revision", revision),
        ("occurred_at", instant(rng)),
    ]
    if rng.random() < 0.3:
        rng.shuffle(pairs)
    return pairs


# --- mutations ------------------------------------------------------------------------------------

WRONG_VALUES: tuple[Any, ...] = (
    "0",
    "1",
    "",
    " ",
    0,
    1,
    -1,
    2,
    1.0,
    0.0,
    -0.0,
    1e3,
    True,
    False,
    None,
    [],
    {},
    [1],
    {"a": 1},
    1767254400,
    1767254400.5,
    "1767254400",
    "2026-01-01T10:00:00Z",
    "6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01",
    "created",
    "deleted",
    "user",
    2**31,
    2**63,
    10**30,
    "x" * 129,
    "\u0000",
)

BAD_INSTANTS: tuple[str, ...] = (
    "9999-12-31T23:00:00-05:00",
    "9999-12-31T23:59:59.999999-00:01",
    "0001-01-01T01:00:00+05:00",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T00:00:00-00:01",
    "9999-12-31T23:59:59+00:00",
    "0000-01-01T00:00:00Z",
    "2026-01-01t10:00:00z",
    "2026-01-01 10:00:00Z",
    "2026-01-01T10:00Z",
    "2026-01-01T10:00:00+0200",
    "2026-01-01T10:00:00+02",
    "2026-01-01T10:00:00+24:00",
    "2026-01-01T10:00:00.1234567Z",
    "2026-01-01T10:00:00.Z",
    "2026-01-01T10:00:00,5Z",
    "2026-01-01T10:00:60Z",
    "2026-01-01T24:00:00Z",
    "2026-02-29T10:00:00Z",
    "2024-02-29T10:00:00Z",
    "2026-04-31T10:00:00Z",
    "2026-01-01T10:00:00",
    "2026-01-01T10:00:00Z\n",
    "\n2026-01-01T10:00:00Z",
    "٢٠٢٦-01-01T10:00:00Z",
    "+2026-01-01T10:00:00Z",
    "20260101T100000Z",
    "1767254400",
    "2026-01-01",
)

BAD_IDS: tuple[str, ...] = (
    "",
    "x" * 129,
    "é" * 128,
    "é" * 129,
    "a\u0000b",
    "tab\there",
    "new\nline",
    "del\u007f",
    "c1\u0085",
    "c1\u009f",
    "ok\u00a0nbsp",
    "\ud800",
    "a\udfffb",
    "😀" * 128,
)

BAD_EVENT_IDS: tuple[str, ...] = (
    "6F1C2A522D0E4D559A550C9A3B0F6F01",
    "{6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01}",
    "urn:uuid:6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01",
    "6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f0",
    "6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f0g",
    "6f1c2a52-2d0e-4d55-9a55-0c9a3b0f6f01\n",
    "00000000-0000-0000-0000-000000000000",
    "6f1c2a52_2d0e_4d55_9a55_0c9a3b0f6f01",
)


def _set(pairs: Pairs, name: str, value: Any) -> Pairs:
    out = [(k, value if k == name else v) for k, v in pairs]
    return out if any(k == name for k, _ in pairs) else [*out, (name, value)]


def _get(pairs: Pairs, name: str) -> Any:
    return next((v for k, v in reversed(pairs) if k == name), None)


def _oversize_text(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return "a" * (TEXT_LIMIT + rng.choice((0, 1)))
    if kind == 1:
        return "é" * (TEXT_LIMIT // 2 + rng.choice((0, 1)))  # 2 bytes each
    if kind == 2:
        return "😀" * (TEXT_LIMIT // 4) + rng.choice(("", "a"))  # 4 bytes each, few code points
    return "é" * TEXT_LIMIT  # fits maxLength, twice the byte limit


def mutate(rng: random.Random, pairs: Pairs) -> Pairs:
    kind = rng.randrange(14)
    name = rng.choice(FIELDS)
    if kind == 0:
        return _set(pairs, name, rng.choice(WRONG_VALUES))
    if kind == 1:
        return [(k, v) for k, v in pairs if k != name]
    if kind == 2:
        extra = rng.choice(("extra", "Text", "schema_version ", "deleted", ""))
        return [*pairs, (extra, rng.choice(WRONG_VALUES))]
    if kind == 3:  # a duplicate key, same or other value, anywhere
        index = rng.randrange(len(pairs) + 1)
        value = _get(pairs, name) if rng.random() < 0.5 else rng.choice(WRONG_VALUES)
        return [*pairs[:index], (name, value), *pairs[index:]]
    if kind == 4:
        which = rng.choice(("created_at", "occurred_at"))
        return _set(pairs, which, rng.choice(BAD_INSTANTS))
    if kind == 5:
        return _set(pairs, "text", _oversize_text(rng))
    if kind == 6:
        which = rng.choice(("message_id", "conversation_id", "topic_id", "user_id"))
        return _set(pairs, which, rng.choice(BAD_IDS))
    if kind == 7:
        return _set(pairs, "event_id", rng.choice(BAD_EVENT_IDS))
    if kind == 8:
        version = rng.choice((0, 2, -1, 1.0, True, "1", None, 10**20, 1e0))
        return _set(pairs, "schema_version", version)
    if kind == 9:
        op = rng.choice(("created", "edited", "deleted", "Created", "renamed"))
        pairs = _set(pairs, "op", op)
        if rng.random() < 0.5:
            pairs = _set(pairs, "text", rng.choice(("", "x", "\u0000", "a\u0000b")))
        return pairs
    if kind == 10:
        revision = rng.choice((-1, 0, 1, 1.0, 0.0, 2.5, MAX_REVISION, MAX_REVISION + 1, 1e2))
        return _set(pairs, "revision", revision)
    if kind == 11:
        return _set(pairs, "role", rng.choice(("bot", "User", "", "assistant ", 0)))
    if kind == 12:  # a nested object with a duplicate inside
        return _set(pairs, name, Verbatim('{"a": 1, "b": [1, {"c": 2, "c": 3}]}'))
    return pairs  # unchanged: keys and encodings still vary


def encode(rng: random.Random, pairs: Pairs) -> bytes:
    """JSON text for ``pairs``, duplicates kept, spacing and escaping varied."""
    ascii_only = rng.random() < 0.3
    colon, comma = rng.choice(((":", ","), (": ", ", "), (" : ", " ,\n")))
    body = comma.join(
        json.dumps(k, ensure_ascii=ascii_only) + colon + _value(v, ascii_only) for k, v in pairs
    )
    text = "{" + body + "}"
    if rng.random() < 0.1:
        text = rng.choice((" ", "\n", "\t")) + text + rng.choice((" ", "\r\n", ""))
    # A lone surrogate can only be written escaped.
    return text.encode("utf-8", "backslashreplace")


class Verbatim(str):
    """JSON text written as it is (a Python dict cannot hold a duplicate key)."""


def _value(value: Any, ascii_only: bool) -> str:
    if isinstance(value, Verbatim):
        return str(value)
    return json.dumps(value, ensure_ascii=ascii_only)


def damage(rng: random.Random, value: bytes) -> bytes:
    """Byte-level damage to an encoded record."""
    kind = rng.randrange(7)
    if kind == 0 and value:
        return value[: rng.randrange(len(value))]
    if kind == 1 and value:
        i = rng.randrange(len(value))
        return value[:i] + bytes([rng.randrange(256)]) + value[i + 1 :]
    if kind == 2:
        i = rng.randrange(len(value) + 1)
        return value[:i] + rng.randbytes(rng.randint(1, 4)) + value[i:]
    if kind == 3:
        return value + rng.choice((b"{}", b"x", b" 1", b"\x00", b"]"))
    if kind == 4:
        return b"\xef\xbb\xbf" + value
    if kind == 5:
        return b"[" + value + b"]"
    return rng.randbytes(rng.randint(0, 64))


def noise(rng: random.Random) -> bytes:
    """Raw bytes and JSON-ish token soup."""
    if rng.random() < 0.5:
        return rng.randbytes(rng.randint(0, 96))
    tokens = ("{", "}", "[", "]", ":", ",", '"a"', '"text"', "1", "-0", "1e400", "true", "null")
    return "".join(rng.choices(tokens, k=rng.randint(1, 24))).encode()


def choose_key(rng: random.Random, pairs: Pairs) -> bytes | None:
    topic = _get(pairs, "topic_id")
    if not isinstance(topic, str) or rng.random() < 0.1:
        return rng.choice((None, b"t1", b"", b"\xff"))
    roll = rng.random()
    if roll < 0.85:
        return topic.encode("utf-8", "backslashreplace")
    if roll < 0.9:
        return None
    if roll < 0.95:
        return topic.upper().encode("utf-8", "backslashreplace")
    return topic.encode("utf-16", "surrogatepass")


def record(rng: random.Random) -> tuple[bytes | None, bytes | None]:
    """One generated (value, key)."""
    roll = rng.random()
    if roll < 0.002:
        return None, b"t1"
    if roll < 0.05:
        return noise(rng), rng.choice((None, b"t1"))
    pairs = valid_pairs(rng)
    for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
        pairs = mutate(rng, pairs)
    value = encode(rng, pairs)
    if rng.random() < 0.08:
        value = damage(rng, value)
    return value, choose_key(rng, pairs)
