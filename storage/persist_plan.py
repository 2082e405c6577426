"""The pure half of persisting a batch of message events: what the batch means, no database.

Given the batch (in log order) and what PostgreSQL holds for its topics and messages, the plan
says which events are bad input (a topic claimed by another conversation, a message moved to
another topic), which message rows to write (each message's winning event, when it supersedes
the stored one), which topic rows are new, which topic rows to update, and which topics need
extraction. storage.messages reads the inputs and carries the plan out, one statement per kind.

The stored message is the event with the highest ``(revision, event_id)`` seen (docs/design.md,
"Message event"); event_id compares as its canonical text in code point order, as the SQL side
compares it under COLLATE "C" (storage.messages._supersedes_stored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cardwright.schema.cards import TopicKey
from cardwright.schema.errors import BadInput
from cardwright.schema.events import REASON_MESSAGE_MOVED, REASON_TOPIC_CONFLICT, MessageEvent

MessageKey = tuple[str, str]  # (user_id, message_id)
Version = tuple[int, str]  # (revision, event_id as text)


@dataclass(frozen=True, slots=True)
class KnownTopic:
    """A topic row as stored: what the plan and the extraction decision read of it."""

    conversation_id: str
    state_version: int
    cards_state_version: int | None
    cards_extractor_id: str | None
    last_event_at: datetime | None


@dataclass(frozen=True, slots=True)
class KnownMessage:
    """A message row as stored: its topic and the version of the event it holds."""

    topic_id: str
    version: Version


@dataclass(slots=True)
class PersistPlan:
    """What to write for one batch."""

    rejected: dict[int, BadInput] = field(default_factory=dict)
    # Each message's winning event where it supersedes the stored row, in (user_id, message_id)
    # order: two writers of overlapping batches then lock message rows in the same order.
    writes: list[MessageEvent] = field(default_factory=list)
    # Topics no row exists for yet, with the conversation that claims them, in key order.
    new_topics: list[tuple[TopicKey, str]] = field(default_factory=list)
    # The latest occurred_at among each topic's accepted events.
    last_event_at: dict[TopicKey, datetime] = field(default_factory=dict)


def plan_batch(
    events: Sequence[MessageEvent],
    topics: Mapping[TopicKey, KnownTopic],
    messages: Mapping[MessageKey, KnownMessage],
) -> PersistPlan:
    """The plan for ``events`` (in log order) against the stored ``topics`` and ``messages``."""
    plan = PersistPlan()
    topic_conversation = {key: known.conversation_id for key, known in topics.items()}
    message_topic = {key: known.topic_id for key, known in messages.items()}
    latest: dict[MessageKey, MessageEvent] = {}
    for index, event in enumerate(events):
        topic_key = (event.user_id, event.topic_id)
        message_key = (event.user_id, event.message_id)
        # Check both claims before making either: a rejected event claims nothing.
        claimed = topic_conversation.get(topic_key, event.conversation_id)
        if claimed != event.conversation_id:
            plan.rejected[index] = BadInput(
                REASON_TOPIC_CONFLICT,
                f"topic {event.topic_id!r} belongs to conversation {claimed!r}, "
                f"not {event.conversation_id!r}",
            )
            continue
        owner = message_topic.get(message_key, event.topic_id)
        if owner != event.topic_id:
            plan.rejected[index] = BadInput(
                REASON_MESSAGE_MOVED,
                f"message {event.message_id!r} belongs to topic {owner!r}, not {event.topic_id!r}",
            )
            continue
        topic_conversation[topic_key] = event.conversation_id
        message_topic[message_key] = event.topic_id
        current = latest.get(message_key)
        if current is None or _newer(event, current):
            latest[message_key] = event
        at = plan.last_event_at.get(topic_key)
        if at is None or event.occurred_at > at:
            plan.last_event_at[topic_key] = event.occurred_at
    plan.new_topics = [
        (key, topic_conversation[key]) for key in sorted(plan.last_event_at) if key not in topics
    ]
    # A stored message at the same or a higher (revision, event_id) cannot change: leave it out
    # (a replay of processed events then writes nothing).
    plan.writes = [
        latest[key]
        for key in sorted(latest)
        if key not in messages or _supersedes(version_of(latest[key]), messages[key].version)
    ]
    return plan


def topic_updates(
    plan: PersistPlan, changed: Mapping[TopicKey, int], topics: Mapping[TopicKey, KnownTopic]
) -> list[tuple[TopicKey, int, datetime]]:
    """The topic rows to update once the messages are written: ``(key, state_version rise,
    last_event_at)`` in key order. A topic whose messages did not change and whose
    last_event_at would not rise is left alone, as on a replay of processed events."""
    updates = []
    for key, at in sorted(plan.last_event_at.items()):
        known = topics.get(key)
        delta = changed.get(key, 0)
        if known is None or delta > 0 or known.last_event_at is None or at > known.last_event_at:
            updates.append((key, delta, at))
    return updates


def needs_extract(
    plan: PersistPlan,
    changed: Mapping[TopicKey, int],
    topics: Mapping[TopicKey, KnownTopic],
    extractor_id: str,
) -> set[TopicKey]:
    """Topics whose cards do not come from their current input with this extractor: new ones,
    changed ones, and ones whose stored row (as of a read that saw every write to it this
    batch waited for) says the cards lag the input or come from another extractor."""
    due = set()
    for key in plan.last_event_at:
        known = topics.get(key)
        if (
            known is None
            or changed.get(key, 0) > 0
            or known.cards_state_version != known.state_version
            or known.cards_extractor_id != extractor_id
        ):
            due.add(key)
    return due


def version_of(event: MessageEvent) -> Version:
    """The pair that orders an event among its message's events, as stored: event_id as its
    canonical text, compared in code point order (the SQL side uses COLLATE "C")."""
    return (event.revision, str(event.event_id))


def _supersedes(event: Version, stored: Version) -> bool:
    """Whether an event at ``event`` replaces a message stored at ``stored``: only a higher
    (revision, event_id). The upsert's WHERE (storage.messages) says the same in SQL."""
    return event > stored


def _newer(candidate: MessageEvent, current: MessageEvent) -> bool:
    """The highest (revision, event_id) wins, so any order of arrival gives one answer."""
    return version_of(candidate) > version_of(current)
