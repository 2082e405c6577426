"""The contract of DESIGN.md re-implemented for the checker: the strict event parser, the source
hash v1 and the card id formula. Written from the design (docs/design.md, "Message event",
"Source hash", "Storage"), never from the product: this module and everything the checker's model
builds on it import nothing from ``cardwright`` (tests/chaos/test_independence.py enforces it),
so a wrong assumption in the product cannot hide in a shared one.

Where the design names a rule but not the DLQ reason a record breaking it must carry, the record
gets every reason that fits (``REASONS``): the check accepts any of them. Pure.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
MAX_TEXT_BYTES = 32 * 1024  # of UTF-8
MAX_ID_CHARS = 128
ID_FIELDS = ("message_id", "conversation_id", "topic_id", "user_id")
OPS = frozenset({"created", "edited", "deleted"})
ROLES = frozenset({"user", "assistant", "system"})
FIELDS = frozenset(
    {"schema_version", "event_id", "op", "role", "text", "created_at", "revision", "occurred_at"}
    | set(ID_FIELDS)
)
# A revision is stored as a PostgreSQL bigint.
MAX_REVISION = 2**63 - 1

INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
SCHEMA = "schema_violation"
OVERSIZE = "oversize_text"
UNKNOWN_VERSION = "unknown_schema_version"
KEY_MISMATCH = "key_mismatch"
UNSTORABLE = "refused_by_database"
TOPIC_CONFLICT = "topic_claimed_by_other_conversation"
MESSAGE_MOVED = "message_moved_to_other_topic"

# The reasons that fit each way a record can be bad. The design says these records are bad
# input; where it does not say under which reason, each plausible one is accepted.
REASONS: dict[str, frozenset[str]] = {
    "no_value": frozenset({INVALID_JSON, SCHEMA}),
    "not_utf8": frozenset({INVALID_UTF8}),
    "not_json": frozenset({INVALID_JSON}),  # syntax, NaN / Infinity
    "duplicate_key": frozenset({INVALID_JSON, SCHEMA}),
    "lone_surrogate": frozenset({INVALID_JSON, SCHEMA, INVALID_UTF8}),
    "not_object": frozenset({SCHEMA}),
    "other_version": frozenset({UNKNOWN_VERSION}),  # an int other than 1
    "version_not_int": frozenset({UNKNOWN_VERSION, SCHEMA}),  # absent, bool, string, float
    "schema": frozenset({SCHEMA}),
    "oversize": frozenset({OVERSIZE}),
    "oversize_and_schema": frozenset({OVERSIZE, SCHEMA}),
    "unstorable": frozenset({SCHEMA, UNSTORABLE}),  # NUL in text, revision past bigint
    "key": frozenset({KEY_MISMATCH}),  # no key, or not the topic_id
}


@dataclass(frozen=True, slots=True)
class Event:
    """A message event that passed every rule of schema v1."""

    event_id: str  # canonical: lowercase, hyphenated
    op: str
    message_id: str
    conversation_id: str
    topic_id: str
    user_id: str
    role: str
    text: str
    created_at: datetime  # aware, as sent (its offset kept)
    revision: int
    occurred_at: datetime

    @property
    def deleted(self) -> bool:
        return self.op == "deleted"

    @property
    def precedence(self) -> tuple[int, str]:
        """The stored message is the event with the highest (revision, event_id) seen; the
        canonical UUID strings order like the UUIDs' bytes."""
        return self.revision, self.event_id


@dataclass(frozen=True, slots=True)
class Live:
    """A live message as the source hash and the extractor see it."""

    message_id: str
    role: str
    created_at: datetime
    text: str


class _Bad(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def classify(key: bytes | None, value: bytes | None) -> tuple[Event | None, frozenset[str]]:
    """The record's event, or the DLQ reasons that fit it. Claims are not looked at here."""
    try:
        return parse(key, value), frozenset()
    except _Bad as bad:
        return None, REASONS[bad.kind]


def explain(key: bytes | None, value: bytes | None) -> str | None:
    """Why the record is bad input (for reports and tests), None when it is an event."""
    try:
        parse(key, value)
    except _Bad as bad:
        return f"{bad.kind}: {bad}"
    return None


def parse(key: bytes | None, value: bytes | None) -> Event:
    if value is None:
        raise _Bad("no_value", "record has no value")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad("not_utf8", str(exc)) from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _Bad:
        raise
    except ValueError as exc:
        raise _Bad("not_json", str(exc)) from None
    _no_lone_surrogates(data)
    if not isinstance(data, dict):
        raise _Bad("not_object", "a message event is a JSON object")
    version = data.get("schema_version")
    if type(version) is not int:
        raise _Bad("version_not_int", f"schema_version {version!r} is not an integer")
    if version != SCHEMA_VERSION:
        raise _Bad("other_version", f"schema_version {version} is not supported")
    problems, oversize, unstorable = _field_problems(data)
    if problems or oversize or unstorable:
        kind = (
            ("oversize_and_schema" if problems or unstorable else "oversize")
            if oversize
            else ("schema" if problems else "unstorable")
        )
        raise _Bad(kind, "; ".join(problems + unstorable + oversize))
    event = Event(
        event_id=str(uuid.UUID(data["event_id"])),
        op=data["op"],
        message_id=data["message_id"],
        conversation_id=data["conversation_id"],
        topic_id=data["topic_id"],
        user_id=data["user_id"],
        role=data["role"],
        text=data["text"],
        created_at=datetime.fromisoformat(data["created_at"]),
        revision=data["revision"],
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
    )
    if key is None:
        raise _Bad("key", "a record without a key")
    if key != event.topic_id.encode("utf-8"):
        raise _Bad("key", "the record key is not the topic_id")
    return event


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, item in pairs:
        if name in seen:
            raise _Bad("duplicate_key", f"duplicate key {name!r}")
        seen[name] = item
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_lone_surrogates(data: Any) -> None:
    """JSON may escape a lone surrogate (\\ud800), which is no Unicode text at all."""
    strings: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    for s in strings:
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _Bad("lone_surrogate", "a string holds a lone surrogate") from None


def _field_problems(data: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(schema problems, oversize problems, unstorable problems) of a version-1 object."""
    problems: list[str] = []
    extra = sorted(set(data) - FIELDS)
    missing = sorted(FIELDS - set(data))
    if extra:
        problems.append(f"unknown fields {extra}")
    if missing:
        problems.append(f"missing fields {missing}")
    event_id = data.get("event_id")
    if "event_id" in data and not _is_uuid(event_id):
        problems.append("event_id is not a UUID string")
    for name in ID_FIELDS:
        if name in data and not _is_identifier(data[name]):
            problems.append(f"{name} is not 1..{MAX_ID_CHARS} characters without controls")
    op, role, text, revision = (data.get(n) for n in ("op", "role", "text", "revision"))
    if "op" in data and (type(op) is not str or op not in OPS):
        problems.append(f"op {op!r}")
    if "role" in data and (type(role) is not str or role not in ROLES):
        problems.append(f"role {role!r}")
    for name in ("created_at", "occurred_at"):
        if name in data and _instant(data[name]) is None:
            problems.append(f"{name} is not an ISO 8601 instant with an offset in years 1..9999")
    if "revision" in data and (type(revision) is not int or revision < 0):
        problems.append(f"revision {revision!r} is not an integer >= 0")
    oversize: list[str] = []
    unstorable: list[str] = []
    if type(revision) is int and revision > MAX_REVISION:
        unstorable.append("revision past a bigint")
    if "text" in data and type(text) is not str:
        problems.append("text is not a string")
    elif type(text) is str:
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            oversize.append(f"text is larger than {MAX_TEXT_BYTES} bytes of UTF-8")
        if "\x00" in text:
            unstorable.append("text holds NUL")
    if type(op) is str and type(text) is str and type(revision) is int:
        if op == "deleted" and (text != "" or revision == 0):
            problems.append("a delete has empty text and a revision above 0")
        if op != "deleted" and text == "":
            problems.append("text may be empty only when deleted")
        if op == "created" and revision != 0:
            problems.append("a created event has revision 0")
        if op == "edited" and revision == 0:
            problems.append("an edit raises the revision above 0")
    return problems, oversize, unstorable


def _is_uuid(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_identifier(value: Any) -> bool:
    return (
        type(value) is str
        and 1 <= len(value) <= MAX_ID_CHARS
        and not any(unicodedata.category(c) == "Cc" for c in value)
    )


def _instant(value: Any) -> datetime | None:
    """An aware datetime whose UTC form lies in years 1..9999, else None. Strings only: an epoch
    number is not an instant here."""
    if type(value) is not str:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    try:
        moment.astimezone(UTC)
    except OverflowError:  # its UTC form is in year 0 or 10000
        return None
    return moment


# --- source hash v1 ------------------------------------------------------------------------------


def utc_text(moment: datetime) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the year always four digits."""
    u = moment.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


def ordered(messages: list[Live] | tuple[Live, ...]) -> tuple[Live, ...]:
    """By created_at (the instant, whatever the offset), ties by message_id in code point order."""
    return tuple(sorted(messages, key=lambda m: (m.created_at.astimezone(UTC), m.message_id)))


def source_hash(extractor_id: str, messages: tuple[Live, ...] | list[Live]) -> str:
    digest = hashlib.sha256(f"cardwright-source-v1\n{extractor_id}\n".encode())
    for m in ordered(messages):
        line = json.dumps(
            [m.message_id, m.role, utc_text(m.created_at), m.text],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


# --- card ids ------------------------------------------------------------------------------------


def card_id(user_id: str, topic_id: str, source_hash: str, position: int) -> str:
    """The first 32 hex digits of sha256 over the UTF-8 of user_id, topic_id, source_hash and
    the decimal position joined by U+001F (which no id may hold). Deterministic, so clients can
    cache cards; the topic is mixed in because the source hash does not name it."""
    material = "\x1f".join((user_id, topic_id, source_hash, str(position)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
