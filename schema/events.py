"""MessageEvent, schema v1: the one record format on the events topic.

Each event carries the whole message state at its revision, so applying events is
order-independent. ``parse_event`` turns raw Kafka bytes into an event or raises ``BadInput``
with a reason code that the DLQ headers carry.
"""

from __future__ import annotations

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
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from cardwright.schema.errors import BadInput

SCHEMA_VERSION = 1
MAX_TEXT_BYTES = 32 * 1024
MAX_ID_CHARS = 128

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

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ID_CHARS),
    AfterValidator(_no_control_chars),
]


class MessageEvent(BaseModel):
    """One change of one message, carrying the message's whole state at ``revision``."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    schema_version: Literal[1] = 1
    event_id: uuid.UUID
    op: Op
    message_id: Identifier
    conversation_id: Identifier
    topic_id: Identifier
    user_id: Identifier
    role: Role
    text: str = Field(description="Full message text at this revision; empty only when deleted.")
    created_at: AwareDatetime
    revision: int = Field(ge=0)
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _check_rules(self) -> MessageEvent:
        if len(self.text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ValueError(f"text is larger than {MAX_TEXT_BYTES} bytes of UTF-8")
        if "\x00" in self.text:
            # PostgreSQL text cannot hold NUL; such an event could never be stored.
            raise ValueError("text must not contain the NUL character")
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


def parse_event(raw: bytes | None, key: bytes | None = None) -> MessageEvent:
    """Decode one Kafka record value into a MessageEvent, or raise ``BadInput`` with a reason."""
    if raw is None:
        raise BadInput(REASON_INVALID_JSON, "record has no value")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(REASON_INVALID_UTF8, str(exc)) from None
    try:
        data: Any = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadInput(REASON_INVALID_JSON, str(exc)) from None
    if not isinstance(data, dict):
        raise BadInput(REASON_SCHEMA, "a message event is a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BadInput(REASON_UNKNOWN_VERSION, f"schema_version {version!r} is not supported")
    event = validate_event(data)
    if key is not None and key != event.topic_id.encode("utf-8"):
        raise BadInput(REASON_KEY_MISMATCH, "record key must be the event's topic_id")
    return event


def validate_event(data: dict[str, Any]) -> MessageEvent:
    """Validate a decoded JSON object; oversize text gets its own reason code."""
    try:
        return MessageEvent.model_validate(data)
    except ValidationError as exc:
        reason = REASON_OVERSIZE if "larger than" in str(exc) else REASON_SCHEMA
        raise BadInput(reason, _summarise(exc)) from None


def _summarise(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def utc_text(moment: datetime) -> str:
    """A timestamp as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the form the source hash uses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
