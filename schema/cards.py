"""Cards (derived facts) and the snapshot of a topic that an extractor reads.

``CardDraft`` is what an extractor returns; pydantic validates drafts from any extractor, built in
or plugged in, so a misbehaving extractor fails loudly instead of writing junk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# The identity of a topic (docs/design.md, "Words"): (user_id, topic_id).
TopicKey = tuple[str, str]


class CardKind(StrEnum):
    ACTION_ITEM = "action_item"
    DECISION = "decision"
    QUESTION = "question"
    PERSON = "person"
    PLACE = "place"
    ORGANISATION = "organisation"
    DATE = "date"
    LINK = "link"
    PREFERENCE = "preference"


class CardDraft(BaseModel):
    """One card as an extractor proposes it, before it is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: CardKind
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(default="", max_length=8000)
    message_ids: tuple[str, ...] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """A message that is part of a topic's input (tombstones are not)."""

    message_id: str
    role: str
    created_at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class TopicSnapshot:
    """A topic's live messages at one ``state_version``, ordered by (created_at, message_id)."""

    user_id: str
    topic_id: str
    conversation_id: str
    state_version: int
    messages: tuple[LiveMessage, ...]


def card_id(user_id: str, topic_id: str, source_hash: str, position: int) -> str:
    """Deterministic card id, so clients can cache cards across identical re-derivations.

    The source hash does not name the topic, so the id mixes in (user_id, topic_id): two topics
    with identical text still get distinct cards.
    """
    material = "\x1f".join((user_id, topic_id, source_hash, str(position)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
