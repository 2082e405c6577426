"""Building the records a producer would publish: message events and every class of poison.

The factory keeps each message's state (topic, conversation, revision, texts) so that edits,
deletes, reverts and stale events are well formed. It writes JSON by hand rather than through
the product's schema model: the workload is an outside producer. Pure and seeded.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# Above the contract's 32 KiB of UTF-8 text.
OVERSIZE_BYTES = 33 * 1024

# Sentences the rules extractor turns into cards (actions, decisions, questions, people, places,
# dates, links, preferences); a message is one or two of them plus a detail that makes it unique.
SENTENCES = (
    "I'll send the draft to Alice on Friday.",
    "We decided to use PostgreSQL for the ledger.",
    "Should we move the launch to March 14?",
    "I prefer short meetings in the morning.",
    "Let's meet Maria in Lisbon next week.",
    "The spec is at https://example.org/spec/v2 for review.",
    "Remember to ask Tom about the budget.",
    "We agreed to ship the beta on 2026-12-01.",
    "Can Priya check the invoices from Acme Corp?",
    "I will book the train to Porto for Monday.",
    "Nobody knows yet whether Berlin or Paris hosts the offsite.",
    "Please review https://example.com/pr/42 before noon.",
)


@dataclass(slots=True)
class Message:
    user: str
    message_id: str
    topic_id: str
    conversation_id: str
    role: str
    created_at: datetime
    revision: int = 0
    deleted: bool = False
    texts: list[str] = field(default_factory=list)  # text by revision ("" when deleted)
    values: list[bytes] = field(default_factory=list)  # published event bytes by revision


class EventFactory:
    """Creates well-formed events for evolving messages, and poison records."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._created = 0
        self._details = 0

    def text(self) -> str:
        self._details += 1
        sentences = self.rng.sample(SENTENCES, self.rng.choice((1, 1, 2)))
        return " ".join(sentences) + f" (note {self._details})"

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_message(self, user: str, topic: str, conversation: str, message_id: str) -> Message:
        self._created += 1
        role = self.rng.choice(("user", "user", "assistant"))
        created = BASE_TIME + timedelta(seconds=self._created)
        return Message(user, message_id, topic, conversation, role, created)

    def document(
        self, m: Message, op: str, revision: int, text: str, **over: Any
    ) -> dict[str, Any]:
        base: dict[str, Any] = {
            "schema_version": 1,
            "event_id": self.event_id(),
            "op": op,
            "message_id": m.message_id,
            "conversation_id": m.conversation_id,
            "topic_id": m.topic_id,
            "user_id": m.user,
            "role": m.role,
            "text": text,
            "created_at": m.created_at.isoformat(),
            "revision": revision,
            "occurred_at": (m.created_at + timedelta(seconds=revision)).isoformat(),
        }
        return base | over

    def advance(self, m: Message, text: str) -> bytes:
        """The next revision of ``m``: created, edited to ``text``, or deleted when text is ""."""
        revision = 0 if not m.values else m.revision + 1
        op = "created" if revision == 0 else ("deleted" if text == "" else "edited")
        value = encode(self.document(m, op, revision, text))
        m.revision, m.deleted = revision, text == ""
        m.texts.append(text)
        m.values.append(value)
        return value

    def stale_edit(self, m: Message) -> bytes:
        """An edit with new text but a revision below the message's current one."""
        assert m.revision >= 2
        return encode(self.document(m, "edited", m.revision - 1, self.text()))

    def elsewhere(self, m: Message, **over: Any) -> bytes:
        """The message's next revision naming another topic or conversation (bad input)."""
        return encode(self.document(m, "edited", m.revision + 1, self.text(), **over))

    def poison(self, reason: str, m: Message) -> tuple[bytes, bytes]:
        """(key, value) of a record of the bad-input class ``reason``, keyed like ``m``."""
        key = m.topic_id.encode()
        valid = self.document(m, "edited", m.revision + 1, self.text())
        if reason == "invalid_utf8":
            return key, b'{"schema_version": 1, "text": "\xff\xfe broken"}'
        if reason == "invalid_json":
            return key, encode(valid)[: self.rng.randint(5, 60)]
        if reason == "schema_violation":
            bad = self.rng.choice(
                ({"role": "robot"}, {"revision": -1}, {"user_id": "u\x07"}, {"text": "a\x00b"})
            )
            return key, encode(valid | bad)
        if reason == "unknown_schema_version":
            return key, encode(valid | {"schema_version": 2})
        if reason == "oversize_text":
            return key, encode(valid | {"text": "x" * OVERSIZE_BYTES})
        if reason == "key_mismatch":
            return f"not-{m.topic_id}".encode(), encode(valid)
        raise ValueError(f"unknown poison class {reason!r}")


RAW_POISON = (
    "invalid_utf8",
    "invalid_json",
    "schema_violation",
    "unknown_schema_version",
    "oversize_text",
    "key_mismatch",
)


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()
