"""MessageEvent, schema v1: the one record format on the events topic, and its wire rules.

Each event carries the whole message state at its revision, so applying events is
order-independent. ``parse_event`` turns one Kafka record (value and key) into an event or raises
``BadInput`` with a reason code that the DLQ headers carry; it raises nothing else, whatever the
bytes (docs/design.md, "Message event, schema v1").

The wire is strict where Python is lenient: JSON types are exact (no ``"0"`` for a number, no
``true`` for a version, no epoch number for an instant, no ``1.0`` for an integer), instants are
RFC 3339 strings with an offset that lie within years 1..9999 in UTC, ids and text have the shapes
the table of the design gives, duplicate keys are bad input and the record key must be the
``topic_id``. Python code that builds events (tests, the load generator) keeps pydantic's usual
conversions; only ``parse_event`` sees bytes from outside.

Reason codes:
    invalid_utf8              the value is not UTF-8
    invalid_json              no value, or not JSON (lone surrogate escapes, NaN, trailing data)
    schema_violation          JSON, but not a v1 event: wrong type, missing or extra field,
                              duplicate key, malformed or out-of-range instant, a ``schema_version``
                              that is not an integer (a bool, a string, a float, missing)
    unknown_schema_version    ``schema_version`` is an integer other than 1: a version this
                              service does not know yet, worth a redrive after an upgrade
    oversize_text             ``text`` is larger than 32 KiB of UTF-8
    key_mismatch              the record key is not the UTF-8 ``topic_id``, or there is no key
The database adds ``topic_claimed_by_other_conversation``, ``message_moved_to_other_topic`` and
``refused_by_database``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cardwright.schema.errors import BadInput

SCHEMA_VERSION = 1
MAX_TEXT_BYTES = 32 * 1024
MAX_ID_CHARS = 128
# `messages.revision` is a PostgreSQL integer: a larger revision could never be stored, so it is a
# schema violation here rather than a database refusal later.
MAX_REVISION = 2**31 - 1

# DLQ reason codes, one per bad-input class of the design.
REASON_INVALID_UTF8 = "invalid_utf8"
REASON_INVALID_JSON = "invalid_json"
REASON_SCHEMA = "schema_violation"
REASON_OVERSIZE = "oversize_text"
REASON_UNKNOWN_VERSION = "unknown_schema_version"
REASON_TOPIC_CONFLICT = "topic_claimed_by_other_conversation"
REASON_MESSAGE_MOVED = "message_moved_to_other_topic"
REASON_KEY_MISMATCH = "key_mismatch"
REASON_UNSTORABLE = "refused_by_database"

# The reasons ``parse_event`` can give; the others come from the database.
PARSE_REASONS = frozenset(
    {
        REASON_INVALID_UTF8,
        REASON_INVALID_JSON,
        REASON_SCHEMA,
        REASON_OVERSIZE,
        REASON_UNKNOWN_VERSION,
        REASON_KEY_MISMATCH,
    }
)

# The regular expressions below are written once and used twice: by the validators here and, in
# the exported JSON Schema, by validators in any language (they are valid ECMA-262 as well, and
# name characters by escapes so that the committed schema stays readable).
# C0, DEL and C1 control characters: never in an id.
CONTROL_CHARACTERS = r"[\u0000-\u001f\u007f-\u009f]"
# PostgreSQL text cannot hold NUL; an event carrying one could never be stored.
NUL = r"\u0000"
# RFC 3339 date-time with an explicit offset, upper-case T and Z, at most microseconds (what
# Python, PostgreSQL and the source hash keep; more digits would be cut silently). [0-9], not \d,
# which also matches other scripts' digits. `$(?!\n)` ends the string in every regex dialect:
# Python's `$` alone also matches before a final newline.
INSTANT_PATTERN = (
    "^(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$(?!\n)"
)
# The canonical 8-4-4-4-12 form only: no braces, no urn: prefix, no missing hyphens.
UUID_PATTERN = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$(?!\n)"
)

_CONTROL = re.compile(CONTROL_CHARACTERS)
_INSTANT = re.compile(INSTANT_PATTERN)
_UUID = re.compile(UUID_PATTERN)
_NUL = re.compile(NUL)


class Op(StrEnum):
    CREATED = "created"
    EDITED = "edited"
    DELETED = "deleted"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# Instants and UUIDs are validated in pydantic's lax mode, which parses them from strings (fast,
# in Rust), but lax mode also takes forms the contract does not: epoch numbers, epoch seconds as a
# string, a space for the T, braces around a UUID. These guards let through only the contract's
# string form, or the Python value itself for events built in code.


def _uuid_text(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or not _UUID.match(value):
        raise ValueError("must be a UUID string in its 8-4-4-4-12 hexadecimal form")
    return value


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _INSTANT.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time string with an offset, "
            "e.g. 2026-01-01T10:00:00.123456+02:00 (at most 6 fraction digits)"
        )
    return value


def _within_utc_years(value: datetime) -> datetime:
    # A local time near year 1 or 9999 can leave datetime's range once converted to UTC, which
    # the source hash and PostgreSQL both do; no other year can.
    if value.year in (1, 9999):
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("must lie within years 1..9999 once converted to UTC") from None
    return value


def _text_rules(value: str) -> str:
    if len(value) > MAX_TEXT_BYTES or len(value.encode("utf-8")) > MAX_TEXT_BYTES:
        raise PydanticCustomError(
            REASON_OVERSIZE, "text is larger than {limit} bytes of UTF-8", {"limit": MAX_TEXT_BYTES}
        )
    if _NUL.search(value):
        raise ValueError("text must not contain the NUL character")
    return value


Identifier = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=MAX_ID_CHARS,
        json_schema_extra={"not": {"pattern": CONTROL_CHARACTERS}},
    ),
    AfterValidator(_no_control_chars),
]

Instant = Annotated[
    AwareDatetime,
    Field(json_schema_extra={"pattern": INSTANT_PATTERN}),
    BeforeValidator(_rfc3339_text),
    AfterValidator(_within_utc_years),
]


def _tighten_schema(schema: dict[str, Any]) -> None:
    """Rules of the model that field types alone do not export (see ``export.py``)."""
    # Optional in Python (events built in code are v1), required on the wire.
    schema["required"] = ["schema_version", *schema["required"]]
    schema["properties"]["schema_version"].pop("default", None)

    def when_op(op: str, then: dict[str, Any], otherwise: dict[str, Any] | None = None) -> Any:
        rule: dict[str, Any] = {
            "if": {"properties": {"op": {"const": op}}, "required": ["op"]},
            "then": {"properties": then},
        }
        if otherwise is not None:
            rule["else"] = {"properties": otherwise}
        return rule

    schema["allOf"] = [
        when_op(
            "deleted",
            then={"text": {"const": ""}, "revision": {"minimum": 1}},
            otherwise={"text": {"minLength": 1}},
        ),
        when_op("created", then={"revision": {"const": 0}}),
        when_op("edited", then={"revision": {"minimum": 1}}),
    ]


class MessageEvent(BaseModel):
    """One change of one message, carrying the message's whole state at ``revision``."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", str_strip_whitespace=False, json_schema_extra=_tighten_schema
    )

    schema_version: Literal[1] = 1
    event_id: Annotated[
        uuid.UUID,
        Field(json_schema_extra={"pattern": UUID_PATTERN}),
        BeforeValidator(_uuid_text),
    ]
    op: Op
    message_id: Identifier
    conversation_id: Identifier
    topic_id: Identifier
    user_id: Identifier
    role: Role
    text: Annotated[
        StrictStr,
        Field(
            description="Full message text at this revision; empty only when deleted.",
            # Code points never outnumber UTF-8 bytes: the byte limit itself is checked in code.
            json_schema_extra={"maxLength": MAX_TEXT_BYTES, "not": {"pattern": NUL}},
        ),
        AfterValidator(_text_rules),
    ]
    created_at: Instant
    revision: StrictInt = Field(ge=0, le=MAX_REVISION)
    occurred_at: Instant

    @model_validator(mode="after")
    def _check_rules(self) -> MessageEvent:
        if self.op is Op.DELETED:
            if self.text != "":
                raise ValueError("a deleted message must have empty text")
            if self.revision == 0:
                raise ValueError("a delete must raise the revision above 0")
        else:
            if self.text == "":
                raise ValueError("text may be empty only when op is 'deleted'")
            if self.op is Op.CREATED and self.revision != 0:
                raise ValueError("a created event has revision 0")
            if self.op is Op.EDITED and self.revision == 0:
                raise ValueError("an edit must raise the revision above 0")
        return self

    @property
    def deleted(self) -> bool:
        return self.op is Op.DELETED

    def to_json_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


def parse_event(raw: bytes | None, key: bytes | None) -> MessageEvent:
    """Decode one Kafka record into a MessageEvent, or raise ``BadInput`` with a reason.

    ``key`` is the record key, which must be the event's ``topic_id`` in UTF-8; ``None`` (a
    record without a key) is bad input too.
    """
    if raw is None:
        raise BadInput(REASON_INVALID_JSON, "record has no value")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(REASON_INVALID_UTF8, str(exc)) from None
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadInput(REASON_INVALID_JSON, str(exc)) from None
    if not isinstance(data, dict):
        raise BadInput(REASON_SCHEMA, "a message event is a JSON object")
    duplicate = duplicate_key(raw, data)
    if duplicate is not None:
        raise BadInput(REASON_SCHEMA, f"duplicate key {duplicate!r}")
    _check_version(data)
    event = _validate_json(raw)
    if key is None:
        raise BadInput(REASON_KEY_MISMATCH, "record has no key; it must be the event's topic_id")
    if key != event.topic_id.encode("utf-8"):
        raise BadInput(REASON_KEY_MISMATCH, "record key must be the event's topic_id")
    return event


def _check_version(data: dict[str, Any]) -> None:
    if "schema_version" not in data:
        raise BadInput(REASON_SCHEMA, "schema_version: field required")
    version = data["schema_version"]
    # type() and not isinstance(): True is an int in Python, and never a version.
    if type(version) is not int:
        raise BadInput(REASON_SCHEMA, f"schema_version must be an integer, not {version!r}")
    if version != SCHEMA_VERSION:
        raise BadInput(REASON_UNKNOWN_VERSION, f"schema_version {version} is not supported")


def _validate_json(raw: bytes) -> MessageEvent:
    # Strict fields (StrictInt, StrictStr, the guards of instants and UUIDs) keep JSON types
    # exact: no "0", true or 1.0 for an integer, no number for a string or an instant. Enums take
    # only their string values. Validating the text, in Rust, costs less than a dict from orjson.
    try:
        return MessageEvent.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise BadInput(REASON_INVALID_JSON, _summarise(errors)) from None
        oversize = any(error["type"] == REASON_OVERSIZE for error in errors)
        raise BadInput(REASON_OVERSIZE if oversize else REASON_SCHEMA, _summarise(errors)) from None


def _summarise(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def duplicate_key(raw: bytes, data: Any) -> str | None:
    """A key that occurs twice in one object of ``raw`` (whose decoding is ``data``), or None.

    orjson keeps the last of duplicate keys silently. The common case is decided without a second
    parse: unless a colon is written as an escape (``\\u003a``), every colon in ``raw`` is either
    a pair's separator or a literal colon inside a string, and the same holds for ``data``
    written back compactly; a duplicate's dropped pair takes at least its separator with it, so
    the two counts are equal if and only if no key repeats, at any depth. Anything else takes
    the exact path, a second parse with the json module (several times slower).
    """
    if b"\\u003" not in raw:
        try:
            written = orjson.dumps(data)
        except orjson.JSONEncodeError:
            pass  # nested deeper than orjson writes: never an event, let the exact path decide
        else:
            if raw.count(b":") == written.count(b":"):
                return None
    return _first_duplicate(raw)


def _first_duplicate(raw: bytes) -> str | None:
    found: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                found.append(name)
            seen.add(name)
        return dict(pairs)

    try:
        json.loads(raw, object_pairs_hook=pairs_hook)
    except (ValueError, RecursionError):
        # orjson read it, so this is deep nesting or a huge integer: never a v1 event either.
        raise BadInput(REASON_SCHEMA, "not a flat JSON object of scalars") from None
    return found[0] if found else None


def utc_text(moment: datetime) -> str:
    """A timestamp as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the form the source hash uses.

    Formatted field by field: ``strftime("%Y")`` writes year 999 as ``999`` on glibc, and the
    design wants four digits always.
    """
    t = moment.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}Z"
    )
