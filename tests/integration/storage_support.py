"""Helpers for the storage integration tests: event builders and plain reads of stored rows.

The reads here use SQL on the tables directly, not the query module under test, so a test can
compare what the product reports with what PostgreSQL holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from cardwright.schema.cards import CardDraft, TopicSnapshot, card_id
from cardwright.schema.events import MessageEvent, Op
from cardwright.storage.engine import make_engine
from cardwright.storage.messages import PersistResult, persist_batch
from cardwright.storage.migrate import upgrade
from cardwright.storage.tables import cards, extract_runs, messages, topics

BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EXTRACTOR_ID = "rules@1"
USER = "user-1"
CONVERSATION = "conv-1"
TOPIC = "topic-1"

# Texts the rules extractor turns into different, non-empty card sets.
TEXT_A = "Alice will send the report to Bob by Friday. We decided to use Postgres."
TEXT_B = "Should we meet in Berlin? I prefer tea. See https://example.com/notes"
TEXT_C = "Carol needs to book the venue in Paris on 2024-06-01."

CardTuple = tuple[str, int, str, str, str, tuple[str, ...]]  # id, position, kind, title, body, ids


@contextmanager
def migrated_engine(url: str, *, pool_size: int = 5) -> Iterator[Engine]:
    """An engine on a database migrated to head; disposed afterwards."""
    engine = make_engine(url, pool_size=pool_size)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def event(
    message_id: str,
    text: str,
    *,
    revision: int = 0,
    op: Op | None = None,
    topic_id: str = TOPIC,
    conversation_id: str = CONVERSATION,
    user_id: str = USER,
    role: str = "user",
    minute: int = 0,
) -> MessageEvent:
    """One event; ``op`` follows from ``revision`` and ``text`` unless given.

    ``minute`` places the message's creation time, which orders the topic's messages.
    """
    if op is None:
        op = Op.CREATED if revision == 0 else (Op.DELETED if text == "" else Op.EDITED)
    created_at = BASE + timedelta(minutes=minute)
    return MessageEvent(
        event_id=uuid.uuid4(),
        op=op,
        message_id=message_id,
        conversation_id=conversation_id,
        topic_id=topic_id,
        user_id=user_id,
        role=role,
        text=text,
        created_at=created_at,
        revision=revision,
        occurred_at=created_at + timedelta(seconds=revision),
    )


def persist(
    engine: Engine, events: Sequence[MessageEvent], extractor_id: str = EXTRACTOR_ID
) -> PersistResult:
    """Persist one batch in its own transaction, as the consumer does."""
    with engine.begin() as connection:
        return persist_batch(connection, events, extractor_id)


def stored_cards(
    engine: Engine, user_id: str = USER, topic_id: str = TOPIC
) -> list[tuple[Any, ...]]:
    """Every stored column of the topic's cards, by position."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(cards)
            .where(cards.c.user_id == user_id, cards.c.topic_id == topic_id)
            .order_by(cards.c.position)
        ).all()
    return [tuple(row) for row in rows]


def run_count(engine: Engine, user_id: str | None = None, topic_id: str | None = None) -> int:
    query = select(func.count()).select_from(extract_runs)
    if user_id is not None:
        query = query.where(extract_runs.c.user_id == user_id)
    if topic_id is not None:
        query = query.where(extract_runs.c.topic_id == topic_id)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def message_rows(engine: Engine, user_id: str = USER) -> list[tuple[str, int, str, bool]]:
    """(message_id, revision, text, deleted) of the user's messages, by message_id."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.message_id, messages.c.revision, messages.c.text, messages.c.deleted)
            .where(messages.c.user_id == user_id)
            .order_by(messages.c.message_id)
        ).all()
    return [(r.message_id, r.revision, r.text, r.deleted) for r in rows]


def state_version(engine: Engine, user_id: str = USER, topic_id: str = TOPIC) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(topics.c.state_version).where(
                    topics.c.user_id == user_id, topics.c.topic_id == topic_id
                )
            ).scalar_one()
        )


def expected_cards(
    snapshot: TopicSnapshot, source_hash: str, drafts: Sequence[CardDraft]
) -> list[CardTuple]:
    """The card set a run with ``drafts`` must store for this snapshot and source hash."""
    return [
        (
            card_id(snapshot.user_id, snapshot.topic_id, source_hash, position),
            position,
            draft.kind.value,
            draft.title,
            draft.body,
            tuple(draft.message_ids),
        )
        for position, draft in enumerate(drafts)
    ]


def as_card_tuples(stored: Sequence[object]) -> list[CardTuple]:
    """StoredCard values from the query module in the shape of ``expected_cards``."""
    return [
        (c.card_id, c.position, c.kind, c.title, c.body, tuple(c.message_ids))  # type: ignore[attr-defined]
        for c in stored
    ]
