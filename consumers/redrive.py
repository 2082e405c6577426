"""What redriving a dead-lettered record publishes, decided without Kafka.

A redrive publishes the record's original value, byte for byte, back to the events topic, keyed
by the value's ``topic_id`` as the contract requires (docs/design.md, "Message event"): that is what
makes a ``key_mismatch`` record usable, and it puts the topic in its own partition. A header
``cardwright.redriven-from`` names the DLQ position it came from.

Redriving is safe to repeat: a member stores a message by its highest ``(revision, event_id)``,
so a second delivery of the same event changes nothing, and its cards are extracted once per
input (docs/design.md, "Failures": "a redriven record applies once").

Some records cannot be redriven and are skipped with a reason: a truncated copy (the DLQ holds
only the start of the original, so publishing it would only dead-letter it again) and a value
with no usable ``topic_id`` (there is no key the contract accepts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from cardwright.consumers.dlq_read import DeadLetter, Position

HEADER_REDRIVEN_FROM = "cardwright.redriven-from"

SKIP_TRUNCATED = "truncated_copy"
SKIP_NO_TOPIC_ID = "no_topic_id"


@dataclass(frozen=True, slots=True)
class Redrive:
    """One record to publish to the events topic."""

    position: Position
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Skip:
    """A selected record that is not redriven, and why."""

    position: Position
    reason: str
    detail: str

    def text(self) -> str:
        return f"{self.position}: not redriven: {self.reason}: {self.detail}"


def plan_redrive(record: DeadLetter) -> Redrive | Skip:
    """The record to publish for ``record``, or why it cannot be redriven."""
    if record.truncated:
        return Skip(
            record.position,
            SKIP_TRUNCATED,
            f"the DLQ holds {record.size} of {record.original_size or '?'} bytes "
            f"(sha256 {record.original_sha256 or '?'}); republish the original from its source",
        )
    topic_id = _topic_id(record.value)
    if record.value is None or topic_id is None:
        return Skip(
            record.position,
            SKIP_NO_TOPIC_ID,
            "the value is not a JSON object with a non-empty string topic_id, so it has no "
            "key the events topic accepts",
        )
    return Redrive(
        position=record.position,
        key=topic_id,
        value=record.value,
        headers=((HEADER_REDRIVEN_FROM, str(record.position).encode()),),
    )


def _topic_id(value: bytes | None) -> bytes | None:
    """The value's ``topic_id`` as the UTF-8 key the contract wants, or None."""
    if value is None:
        return None
    try:
        data: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    topic_id = data.get("topic_id") if isinstance(data, dict) else None
    if not isinstance(topic_id, str) or not topic_id:
        return None
    try:
        return topic_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escaped in the JSON text
        return None
