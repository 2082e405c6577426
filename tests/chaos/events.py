"""Building the records a producer would publish: message events and every class of poison.

The factory keeps each message's state (topic, conversation, revision, created_at, texts) so that
edits, deletes, undeletes, reverts, same-revision twins and stale events are well formed. It
writes JSON by hand rather than through the product's schema model: the workload is an outside
producer. Pure and seeded.

Instants: created_at comes from a small pool of instants with microseconds (so messages tie on
it), each written with one of several UTC offsets (so equal instants look different), and now and
then one at the edge of years 1..9999; some edits change it.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
MAX_TEXT_BYTES = 32 * 1024
# Above the contract's 32 KiB of UTF-8 text.
OVERSIZE_BYTES = 33 * 1024
# Text sizes at the limit: exactly it, just under; and just over it (bad input).
AT_LIMIT_BYTES = (MAX_TEXT_BYTES, MAX_TEXT_BYTES - 1, MAX_TEXT_BYTES - 3)
OVER_LIMIT_BYTES = (MAX_TEXT_BYTES + 1, MAX_TEXT_BYTES + 2, OVERSIZE_BYTES)
# Characters of 1 to 4 bytes of UTF-8 that fill large texts.
FILL = ("a", "é", "中", "😀")
# The oracle extractor makes a card of each live message that holds it.
CARD_MARKER = "#card"
# The pool of created_at instants (with microseconds), so that many messages tie.
CREATED_POOL = 9
OFFSETS = tuple(
    timezone(timedelta(minutes=m)) for m in (0, 330, -480, 840, -720, 345, -210, 60, -60)
)
# Valid instants at the edges of years 1..9999 once in UTC (the year printed with four digits).
EDGE_INSTANTS = (
    datetime(1, 1, 1, 0, 0, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
    datetime(99, 6, 1, 12, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(9999, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-3))),
)
# Instants whose UTC form falls outside years 1..9999 (bad input).
OUT_OF_RANGE = ("9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00")

# Sentences for message texts; a message is one or two of them plus a detail that makes it unique.
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
    "Zoë fährt nächste Woche nach Köln — 🚆 gebucht.",
    "会议改到周四下午三点。",
    "Ça marche, on garde l'ordre du jour 👍",
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
    texts: list[str] = field(default_factory=list)  # text by event ("" when deleted)
    values: list[bytes] = field(default_factory=list)  # published event bytes, in order


class EventFactory:
    """Creates well-formed events for evolving messages, and poison records."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._created = 0
        self._details = 0
        start = BASE_TIME + timedelta(microseconds=rng.randrange(10**6))
        self.pool = [start + timedelta(seconds=37 * n, microseconds=n * 1013) for n in range(9)]

    def text(self) -> str:
        self._details += 1
        sentences = self.rng.sample(SENTENCES, self.rng.choice((1, 1, 2)))
        marker = f" {CARD_MARKER}" if self.rng.random() < 0.5 else ""
        return " ".join(sentences) + f" (note {self._details}){marker}"

    def sized_text(self, size: int) -> str:
        """A text of exactly ``size`` bytes of UTF-8, mostly multi-byte characters."""
        self._details += 1
        head = f"{CARD_MARKER} big note {self._details}: "
        parts, left = [head], size - len(head.encode())
        while left >= 4:
            char = self.rng.choice(FILL)
            parts.append(char)
            left -= len(char.encode())
        parts.append("a" * left)
        return "".join(parts)

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def instant(self) -> datetime:
        """A created_at: a pool instant under some offset, rarely one at the edge of the range."""
        if self.rng.random() < 0.02:
            return self.rng.choice(EDGE_INSTANTS)
        return self.rng.choice(self.pool).astimezone(self.rng.choice(OFFSETS))

    def new_message(self, user: str, topic: str, conversation: str, message_id: str) -> Message:
        self._created += 1
        role = self.rng.choice(("user", "user", "assistant", "system"))
        return Message(user, message_id, topic, conversation, role, self.instant())

    def document(
        self, m: Message, op: str, revision: int, text: str, **over: Any
    ) -> dict[str, Any]:
        occurred = BASE_TIME + timedelta(seconds=self._created, milliseconds=revision)
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
            "created_at": iso(m.created_at),
            "revision": revision,
            "occurred_at": iso(occurred.astimezone(self.rng.choice(OFFSETS))),
        }
        return base | over

    def advance(self, m: Message, text: str, gap: int = 1, moved: bool = False) -> bytes:
        """The next revision of ``m`` (``gap`` above the current one): created, edited to
        ``text``, or deleted when text is "". ``moved``: the edit also changes created_at."""
        revision = 0 if not m.values else m.revision + gap
        op = "created" if revision == 0 else ("deleted" if text == "" else "edited")
        if moved:
            m.created_at = self.instant()
        value = encode(self.document(m, op, revision, text))
        m.revision, m.deleted = revision, text == ""
        m.texts.append(text)
        m.values.append(value)
        return value

    def first_delete(self, m: Message) -> bytes:
        """A message first seen as a delete, at a revision above 0 (its earlier ones never came)."""
        assert not m.values
        revision = self.rng.randint(1, 4)
        value = encode(self.document(m, "deleted", revision, ""))
        m.revision, m.deleted = revision, True
        m.texts.append("")
        m.values.append(value)
        return value

    def twin(self, m: Message) -> bytes:
        """Another event at ``m``'s current revision, with another event_id and another text (or
        a delete where the revision allows one): the higher event_id wins, whatever comes first."""
        assert m.values
        if m.revision > 0 and self.rng.random() < 0.3:
            op, text = "deleted", ""
        else:
            op, text = ("created" if m.revision == 0 else "edited"), self.text()
        value = encode(self.document(m, op, m.revision, text))
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

    def poison(self, reason: str, m: Message) -> tuple[bytes | None, bytes]:
        """(key, value) of a record of the bad-input class ``reason``, keyed like ``m``."""
        key = m.topic_id.encode()
        valid = self.document(m, "edited", m.revision + 1, self.text())
        if reason == "invalid_utf8":
            return key, b'{"schema_version": 1, "text": "\xff\xfe broken"}'
        if reason == "invalid_json":
            return key, encode(valid)[: self.rng.randint(5, 60)]
        if reason == "schema_violation":
            bad = self.rng.choice(
                (
                    {"role": "robot"},
                    {"revision": -1},
                    {"user_id": "u\x07"},
                    {"text": "a\x00b"},
                    {"message_id": "😀" * 129},
                )
            )
            return key, encode(valid | bad)
        if reason == "unknown_schema_version":
            return key, encode(valid | {"schema_version": 2})
        if reason == "oversize_text":
            return key, encode(valid | {"text": self.sized_text(self.rng.choice(OVER_LIMIT_BYTES))})
        if reason == "key_mismatch":
            return f"not-{m.topic_id}".encode(), encode(valid)
        if reason == "missing_key":
            return None, encode(valid)
        if reason == "instant_out_of_range":
            name = self.rng.choice(("created_at", "occurred_at"))
            return key, encode(valid | {name: self.rng.choice(OUT_OF_RANGE)})
        if reason == "revision_string":
            return key, encode(valid | {"revision": str(valid["revision"])})
        if reason == "version_bool":
            return key, encode(valid | {"schema_version": True})
        if reason == "epoch_created_at":
            return key, encode(valid | {"created_at": int(m.created_at.timestamp())})
        if reason == "duplicate_key":
            # Each copy of the key is valid on its own: only the repetition is bad.
            name, other = self.rng.choice((("text", self.text()), ("revision", 99)))
            body = encode(valid)
            return key, b"{" + json.dumps(name).encode() + b": " + encode(other) + b", " + body[1:]
        raise ValueError(f"unknown poison class {reason!r}")


RAW_POISON = (
    "invalid_utf8",
    "invalid_json",
    "schema_violation",
    "unknown_schema_version",
    "oversize_text",
    "key_mismatch",
    "missing_key",
    "instant_out_of_range",
    "revision_string",
    "version_bool",
    "epoch_created_at",
    "duplicate_key",
)


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def iso(moment: datetime) -> str:
    """ISO 8601 with its offset; "Z" for UTC now and then, as many producers write it."""
    text = moment.isoformat()
    if moment.utcoffset() == timedelta(0) and moment.microsecond % 2:
        return text.removesuffix("+00:00") + "Z"
    return text
