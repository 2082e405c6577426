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
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    Row,
    Text,
    and_,
    func,
    literal,
    null,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from cardwright.schema.cards import TopicKey
from cardwright.schema.errors import BadInput
from cardwright.schema.events import MessageEvent
from cardwright.storage.arrays import unnest
from cardwright.storage.persist_plan import (
    KnownMessage,
    KnownTopic,
    needs_extract,
    plan_batch,
    topic_updates,
)
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
    """Apply ``events`` (in log order) inside the caller's transaction.

    One lookup (topics and messages in one statement, so one snapshot), the pure plan
    (storage.persist_plan), then one statement per kind: new topic rows, the message upsert,
    the topic rows locked and read again, their update. A replay of processed events is the
    lookup alone.
    """
    result = PersistResult()
    if not events:
        return result
    topic_keys = sorted({(e.user_id, e.topic_id) for e in events})
    message_keys = sorted({(e.user_id, e.message_id) for e in events})
    known_topics, known_messages = _lookup(connection, topic_keys, message_keys)
    plan = plan_batch(events, known_topics, known_messages)
    result.rejected = plan.rejected

    if plan.new_topics:
        rows = unnest(
            ("user_id", Text, [u for (u, _), _ in plan.new_topics]),
            ("topic_id", Text, [t for (_, t), _ in plan.new_topics]),
            ("conversation_id", Text, [c for _, c in plan.new_topics]),
        )
        connection.execute(
            insert(topics)
            .from_select(["user_id", "topic_id", "conversation_id"], select(rows))
            .on_conflict_do_nothing()
        )

    changed: dict[TopicKey, int] = defaultdict(int)
    if plan.writes:
        for row in connection.execute(_upsert(plan.writes)):
            changed[(row.user_id, row.topic_id)] += 1
        result.changed_messages = sum(changed.values())

    updates = topic_updates(plan, changed, known_topics)
    # Read again the topics a write was attempted on that did not land: a concurrent writer (a
    # zombie, another group) stored these very events after our lookup and made them look
    # unchanged to us; its state_version rise says their cards are due all the same. Our upsert
    # waited for that writer, so it committed before this read. The lookup saw every other
    # topic in one snapshot, consistent with its messages.
    attempted = {(e.user_id, e.topic_id) for e in plan.writes}
    recheck = {k for k in attempted if k in known_topics and not changed.get(k)}
    if updates or recheck:
        known_topics = known_topics | _lock_topics(
            connection, sorted(recheck | {key for key, _, _ in updates})
        )
    if updates:
        rows = unnest(
            ("k_user", Text, [u for (u, _), _, _ in updates]),
            ("k_topic", Text, [t for (_, t), _, _ in updates]),
            ("k_delta", Integer, [delta for _, delta, _ in updates]),
            ("k_at", DateTime(timezone=True), [at for _, _, at in updates]),
        )
        connection.execute(
            update(topics)
            .where(topics.c.user_id == rows.c.k_user, topics.c.topic_id == rows.c.k_topic)
            .values(
                state_version=topics.c.state_version + rows.c.k_delta,
                last_event_at=func.greatest(topics.c.last_event_at, rows.c.k_at),
            )
        )
    result.needs_extract = needs_extract(plan, changed, known_topics, extractor_id)
    return result


def _lookup(
    connection: Connection, topic_keys: list[TopicKey], message_keys: list[tuple[str, str]]
) -> tuple[dict[TopicKey, KnownTopic], dict[tuple[str, str], KnownMessage]]:
    """The stored topic rows and message rows of a batch, in ONE statement: one snapshot, so a
    topic row and its messages agree even while another writer commits, and one round trip."""
    wanted_topics = unnest(
        ("user_id", Text, [u for u, _ in topic_keys]),
        ("topic_id", Text, [t for _, t in topic_keys]),
    )
    wanted_messages = unnest(
        ("m_user_id", Text, [u for u, _ in message_keys]),
        ("message_id", Text, [m for _, m in message_keys]),
    )
    none_text = null().cast(Text)
    none_int = null().cast(Integer)
    topic_part = select(
        literal("t").label("part"),
        topics.c.user_id,
        topics.c.topic_id,
        topics.c.conversation_id,
        topics.c.state_version,
        topics.c.cards_state_version,
        topics.c.cards_extractor_id,
        topics.c.last_event_at,
        none_text.label("message_id"),
        none_int.label("revision"),
        none_text.label("event_id"),
    ).join(
        wanted_topics,
        and_(
            topics.c.user_id == wanted_topics.c.user_id,
            topics.c.topic_id == wanted_topics.c.topic_id,
        ),
    )
    message_part = select(
        literal("m"),
        messages.c.user_id,
        messages.c.topic_id,
        none_text,
        null().cast(BigInteger),
        null().cast(BigInteger),
        none_text,
        null().cast(DateTime(timezone=True)),
        messages.c.message_id,
        messages.c.revision,
        messages.c.event_id,
    ).join(
        wanted_messages,
        and_(
            messages.c.user_id == wanted_messages.c.m_user_id,
            messages.c.message_id == wanted_messages.c.message_id,
        ),
    )
    found_topics: dict[TopicKey, KnownTopic] = {}
    found_messages: dict[tuple[str, str], KnownMessage] = {}
    for row in connection.execute(union_all(topic_part, message_part)):
        if row.part == "t":
            found_topics[(row.user_id, row.topic_id)] = _known_topic(row)
        else:
            found_messages[(row.user_id, row.message_id)] = KnownMessage(
                row.topic_id, (row.revision, row.event_id)
            )
    return found_topics, found_messages


def _lock_topics(connection: Connection, keys: list[TopicKey]) -> dict[TopicKey, KnownTopic]:
    """Lock the topic rows ``keys`` in (user_id, topic_id) code point order, the order every
    writer of topic rows takes them in (storage.group_replace too), and read them as they are."""
    wanted = unnest(
        ("user_id", Text, [u for u, _ in keys]),
        ("topic_id", Text, [t for _, t in keys]),
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
        )
        .join(
            wanted,
            and_(topics.c.user_id == wanted.c.user_id, topics.c.topic_id == wanted.c.topic_id),
        )
        .order_by(topics.c.user_id.collate("C"), topics.c.topic_id.collate("C"))
        .with_for_update(of=topics)
    )
    return {(row.user_id, row.topic_id): _known_topic(row) for row in rows}


def _known_topic(row: Row[Any]) -> KnownTopic:
    return KnownTopic(
        row.conversation_id,
        row.state_version,
        row.cards_state_version,
        row.cards_extractor_id,
        row.last_event_at,
    )


def _superseding_fields(excluded: Any) -> dict[str, Any]:
    """What a superseding event writes over the stored row: every field of the winning event,
    created_at included, since an edit may correct it (docs/design.md, "Message event")."""
    fields = ("role", "text", "created_at", "revision", "deleted", "occurred_at", "event_id")
    return {name: excluded[name] for name in fields} | {"updated_at": func.now()}


def _upsert(events: Sequence[MessageEvent]) -> Any:
    """The winning events as message rows, in the order given (key order: two workers writing
    overlapping batches, a zombie and the new owner, then lock rows in the same order and
    cannot deadlock each other); returns the (user_id, topic_id) of each row that changed."""
    rows = unnest(*_message_columns(events))
    stmt = insert(messages).from_select(MESSAGE_COLUMNS, select(rows))
    return stmt.on_conflict_do_update(
        index_elements=[messages.c.user_id, messages.c.message_id],
        set_=_superseding_fields(stmt.excluded),
        # Only a higher (revision, event_id) changes a stored message, and never its topic.
        # A row comparison, event_id in code point order (COLLATE "C") as version_of orders
        # it in Python; a same-revision event with a higher event_id thus wins in a later
        # batch exactly as it wins within one. It also guards against a concurrent writer
        # that stored a higher pair after the lookup.
        where=_supersedes_stored(stmt.excluded) & (messages.c.topic_id == stmt.excluded.topic_id),
    ).returning(messages.c.user_id, messages.c.topic_id)


def _supersedes_stored(excluded: Any) -> ColumnElement[bool]:
    """The upsert's guard: the incoming row (``excluded``) replaces the stored one only with a
    higher (revision, event_id), event_id compared in code point order on any collation."""
    return tuple_(messages.c.revision, messages.c.event_id.collate("C")) < tuple_(
        excluded.revision, excluded.event_id.collate("C")
    )


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
