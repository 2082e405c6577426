"""Persisting a batch of message events: one transaction, idempotent by (revision, event_id).

The stored message is the event with the highest ``(revision, event_id)`` seen, every field of
it (docs/design.md, "Message event"): an event replaces the stored row only when its pair is
higher, compared the same way in Python (within a batch) and in SQL (against the stored row), so
redelivery, any order of arrival and any cut into batches, members or groups end in the same
rows. event_id is compared as its canonical text (lowercase hex, fixed hyphens) in code point
order: in SQL under COLLATE "C", whatever the database collation; that order is the UUIDs' byte
order too (pinned by a property test).

A topic belongs to the first conversation that names it, and a message to the first topic that
names it; events that contradict either are bad input and are handed back for the DLQ instead
of being applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    Row,
    Text,
    and_,
    bindparam,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from cardwright.schema.cards import TopicKey
from cardwright.schema.errors import BadInput
from cardwright.schema.events import REASON_MESSAGE_MOVED, REASON_TOPIC_CONFLICT, MessageEvent
from cardwright.storage.arrays import unnest
from cardwright.storage.tables import messages, topics


@dataclass(slots=True)
class PersistResult:
    """What a batch did: rejected events (by index) and which topics need extraction."""

    rejected: dict[int, BadInput] = field(default_factory=dict)
    # Topics whose cards do not come from their current input with this extractor.
    needs_extract: set[TopicKey] = field(default_factory=set)
    changed_messages: int = 0


def persist_batch(
    connection: Connection, events: Sequence[MessageEvent], extractor_id: str
) -> PersistResult:
    """Apply ``events`` (in log order) inside the caller's transaction."""
    result = PersistResult()
    if not events:
        return result
    topic_keys = {(e.user_id, e.topic_id) for e in events}
    message_keys = {(e.user_id, e.message_id) for e in events}

    known_topics = _read_topics(connection, topic_keys)
    wanted_messages = unnest(
        ("user_id", Text, [u for u, _ in sorted(message_keys)]),
        ("message_id", Text, [m for _, m in sorted(message_keys)]),
    )
    stored_messages = {
        (row.user_id, row.message_id): (row.topic_id, (row.revision, row.event_id))
        for row in connection.execute(
            select(
                messages.c.user_id,
                messages.c.message_id,
                messages.c.topic_id,
                messages.c.revision,
                messages.c.event_id,
            ).join(
                wanted_messages,
                and_(
                    messages.c.user_id == wanted_messages.c.user_id,
                    messages.c.message_id == wanted_messages.c.message_id,
                ),
            )
        )
    }
    message_topic = {key: topic for key, (topic, _) in stored_messages.items()}
    topic_conversation = {key: row.conversation_id for key, row in known_topics.items()}

    latest: dict[tuple[str, str], MessageEvent] = {}
    last_event_at: dict[TopicKey, datetime] = {}
    for index, event in enumerate(events):
        topic_key = (event.user_id, event.topic_id)
        message_key = (event.user_id, event.message_id)
        # Check both claims before making either: a rejected event claims nothing.
        claimed = topic_conversation.get(topic_key, event.conversation_id)
        if claimed != event.conversation_id:
            result.rejected[index] = BadInput(
                REASON_TOPIC_CONFLICT,
                f"topic {event.topic_id!r} belongs to conversation {claimed!r}, "
                f"not {event.conversation_id!r}",
            )
            continue
        owner = message_topic.get(message_key, event.topic_id)
        if owner != event.topic_id:
            result.rejected[index] = BadInput(
                REASON_MESSAGE_MOVED,
                f"message {event.message_id!r} belongs to topic {owner!r}, not {event.topic_id!r}",
            )
            continue
        topic_conversation[topic_key] = event.conversation_id
        message_topic[message_key] = event.topic_id
        current = latest.get(message_key)
        if current is None or _newer(event, current):
            latest[message_key] = event
        if topic_key not in last_event_at or event.occurred_at > last_event_at[topic_key]:
            last_event_at[topic_key] = event.occurred_at

    new_topics = [
        {"user_id": u, "topic_id": t, "conversation_id": topic_conversation[(u, t)]}
        for (u, t) in sorted(last_event_at)
        if (u, t) not in known_topics
    ]
    if new_topics:
        connection.execute(insert(topics).on_conflict_do_nothing(), new_topics)

    changed_per_topic: dict[TopicKey, int] = defaultdict(int)
    # A stored message at the same or a higher (revision, event_id) cannot change: leave it out
    # of the upsert (a replay of processed events then writes nothing). The upsert's own WHERE
    # still guards against a concurrent writer that stored a higher pair after this read.
    changing = [
        key
        for key in sorted(latest)
        if key not in stored_messages
        or _supersedes(version_of(latest[key]), stored_messages[key][1])
    ]
    if changing:
        # Rows in key order: two workers writing overlapping batches (a zombie and the new
        # owner) then take row locks in the same order and cannot deadlock each other.
        rows = unnest(*_message_columns([latest[key] for key in changing]))
        stmt = insert(messages).from_select(MESSAGE_COLUMNS, select(rows))
        upsert = stmt.on_conflict_do_update(
            index_elements=[messages.c.user_id, messages.c.message_id],
            set_=_superseding_fields(stmt.excluded),
            # Only a higher (revision, event_id) changes a stored message, and never its topic.
            # A row comparison, event_id in code point order (COLLATE "C") as version_of orders
            # it in Python; a same-revision event with a higher event_id thus wins in a later
            # batch exactly as it wins within one.
            where=_supersedes_stored(stmt.excluded)
            & (messages.c.topic_id == stmt.excluded.topic_id),
        ).returning(messages.c.user_id, messages.c.topic_id)
        for row in connection.execute(upsert):
            changed_per_topic[(row.user_id, row.topic_id)] += 1
        result.changed_messages = sum(changed_per_topic.values())

    touched = [
        {"k_user": u, "k_topic": t, "k_delta": changed_per_topic.get((u, t), 0), "k_at": at}
        for (u, t), at in sorted(last_event_at.items())
        if _worth_updating((u, t), at, changed_per_topic, known_topics)
    ]
    if touched:
        connection.execute(
            update(topics)
            .where(topics.c.user_id == bindparam("k_user"))
            .where(topics.c.topic_id == bindparam("k_topic"))
            .values(
                state_version=topics.c.state_version + bindparam("k_delta"),
                last_event_at=func.greatest(topics.c.last_event_at, bindparam("k_at")),
            ),
            touched,
        )

    # Decide from the topic rows as they are now, not as first read: a concurrent writer (a
    # zombie, another group) may have stored these very events in between, and made the rows
    # look unchanged to us; their cards are then due all the same. Our upsert waited for that
    # writer, or our message read already saw it, so it committed before this read.
    settled = [k for k in last_event_at if k in known_topics and not changed_per_topic.get(k)]
    if settled:
        known_topics = known_topics | _read_topics(connection, set(settled))
    for key in last_event_at:
        known = known_topics.get(key)
        if (
            known is None
            or changed_per_topic.get(key, 0) > 0
            or known.cards_state_version != known.state_version
            or known.cards_extractor_id != extractor_id
        ):
            result.needs_extract.add(key)
    return result


def _read_topics(connection: Connection, keys: set[TopicKey]) -> dict[TopicKey, Row[Any]]:
    """The stored rows of the topics ``keys`` (those that exist)."""
    # Keys travel as arrays joined with unnest(): one short statement whatever the batch size,
    # which PostgreSQL and psycopg parse and plan once, instead of an IN list of 2,000 params.
    wanted = unnest(
        ("user_id", Text, [u for u, _ in sorted(keys)]),
        ("topic_id", Text, [t for _, t in sorted(keys)]),
    )
    rows = connection.execute(
        select(
            topics.c.user_id,
            topics.c.topic_id,
            topics.c.conversation_id,
            topics.c.state_version,
            topics.c.cards_state_version,
            topics.c.cards_extractor_id,
            topics.c.last_event_at,
        ).join(
            wanted,
            and_(topics.c.user_id == wanted.c.user_id, topics.c.topic_id == wanted.c.topic_id),
        )
    )
    return {(row.user_id, row.topic_id): row for row in rows}


def _worth_updating(
    key: TopicKey,
    at: datetime,
    changed_per_topic: dict[TopicKey, int],
    known_topics: dict[TopicKey, Row[Any]],
) -> bool:
    """Skip the topic row write when nothing changed, as on a replay of processed events."""
    known = known_topics.get(key)
    if known is None or changed_per_topic.get(key, 0) > 0 or known.last_event_at is None:
        return True
    return bool(at > known.last_event_at)


def version_of(event: MessageEvent) -> tuple[int, str]:
    """The pair that orders an event among its message's events, as stored: event_id as its
    canonical text, compared in code point order (the SQL side uses COLLATE "C")."""
    return (event.revision, str(event.event_id))


def _supersedes(event: tuple[int, str], stored: tuple[int, str]) -> bool:
    """Whether an event at ``event`` replaces a message stored at ``stored``: only a higher
    (revision, event_id). The upsert's WHERE (:func:`_supersedes_stored`) says the same in SQL."""
    return event > stored


def _supersedes_stored(excluded: Any) -> ColumnElement[bool]:
    """The upsert's guard: the incoming row (``excluded``) replaces the stored one only with a
    higher (revision, event_id), event_id compared in code point order on any collation."""
    return tuple_(messages.c.revision, messages.c.event_id.collate("C")) < tuple_(
        excluded.revision, excluded.event_id.collate("C")
    )


def _superseding_fields(excluded: Any) -> dict[str, Any]:
    """What a superseding event writes over the stored row: every field of the winning event,
    created_at included, since an edit may correct it (docs/design.md, "Message event")."""
    fields = ("role", "text", "created_at", "revision", "deleted", "occurred_at", "event_id")
    return {name: excluded[name] for name in fields} | {"updated_at": func.now()}


def _newer(candidate: MessageEvent, current: MessageEvent) -> bool:
    """The highest (revision, event_id) wins, so any order of arrival gives one answer."""
    return version_of(candidate) > version_of(current)


# The columns an event fills, in the order of the arrays that carry them.
MESSAGE_COLUMNS = (
    "user_id",
    "message_id",
    "topic_id",
    "conversation_id",
    "role",
    "text",
    "created_at",
    "revision",
    "deleted",
    "occurred_at",
    "event_id",
)


def _message_columns(events: Sequence[MessageEvent]) -> list[tuple[str, Any, list[Any]]]:
    """The message rows of ``events`` as one typed array per column, for ``unnest``."""
    return [
        ("user_id", Text, [e.user_id for e in events]),
        ("message_id", Text, [e.message_id for e in events]),
        ("topic_id", Text, [e.topic_id for e in events]),
        ("conversation_id", Text, [e.conversation_id for e in events]),
        ("role", Text, [e.role.value for e in events]),
        ("text", Text, [e.text for e in events]),
        ("created_at", DateTime(timezone=True), [e.created_at for e in events]),
        ("revision", Integer, [e.revision for e in events]),
        ("deleted", Boolean, [e.deleted for e in events]),
        ("occurred_at", DateTime(timezone=True), [e.occurred_at for e in events]),
        ("event_id", Text, [str(e.event_id) for e in events]),
    ]
