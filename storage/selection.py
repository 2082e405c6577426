"""Which topics an operator's recompute (``cardwright reextract``) covers.

- one topic by ``(user_id, topic_id)``;
- every topic whose input or cards changed since a time (``last_event_at`` or
  ``cards_updated_at`` at or after it);
- every topic with a recorded extraction failure newer than its current cards (or with no cards).

Each optionally narrowed to one user. Topics come back in key order (code point order of the
ids, whatever the database collation), so a run is repeatable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, exists, or_, select

from cardwright.storage.tables import extract_failures, topics

TopicKey = tuple[str, str]


def one_topic(engine: Engine, user_id: str, topic_id: str) -> list[TopicKey]:
    with engine.connect() as connection:
        found = connection.execute(
            select(topics.c.user_id, topics.c.topic_id).where(
                topics.c.user_id == user_id, topics.c.topic_id == topic_id
            )
        ).one_or_none()
    return [] if found is None else [(found.user_id, found.topic_id)]


def changed_since(engine: Engine, since: datetime, user_id: str | None = None) -> list[TopicKey]:
    query = select(topics.c.user_id, topics.c.topic_id).where(
        or_(topics.c.last_event_at >= since, topics.c.cards_updated_at >= since)
    )
    return _keys(engine, query, user_id)


def failed_after_cards(engine: Engine, user_id: str | None = None) -> list[TopicKey]:
    newer_failure = exists().where(
        extract_failures.c.user_id == topics.c.user_id,
        extract_failures.c.topic_id == topics.c.topic_id,
        or_(
            topics.c.cards_updated_at.is_(None),
            extract_failures.c.failed_at > topics.c.cards_updated_at,
        ),
    )
    query = select(topics.c.user_id, topics.c.topic_id).where(newer_failure)
    return _keys(engine, query, user_id)


def _keys(engine: Engine, query: Select[Any], user_id: str | None) -> list[TopicKey]:
    if user_id is not None:
        query = query.where(topics.c.user_id == user_id)
    # Code point order of the ids (byte order under "C"), the same on every database.
    query = query.order_by(topics.c.user_id.collate("C"), topics.c.topic_id.collate("C"))
    with engine.connect() as connection:
        return [(row.user_id, row.topic_id) for row in connection.execute(query)]
