"""Which topics an operator's recompute (``cardwright reextract``) covers.

- one topic by ``(user_id, topic_id)``;
- every topic whose input or cards changed since a time: a message of it stored at or after it
  (``messages.updated_at``), or its cards replaced at or after it (``cards_updated_at``). Both
  are the database's clock (``now()`` of the writing transaction), never the producer's
  ``occurred_at``, so an operator's "since ten minutes ago" means one clock: an event that says
  it happened last year but was stored a minute ago is selected;
- every topic with a recorded extraction failure newer than its current cards (or with no cards).

Each optionally narrowed to one user. Topics come back in key order (code point order of the ids,
whatever the database collation), so a run is repeatable. ``other_extractors`` says which
selected topics have cards from another extractor than the one a recompute would use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, Text, and_, exists, or_, select

from cardwright.schema.cards import TopicKey
from cardwright.storage.arrays import unnest
from cardwright.storage.tables import extract_failures, messages, topics


def one_topic(engine: Engine, user_id: str, topic_id: str) -> list[TopicKey]:
    with engine.connect() as connection:
        found = connection.execute(
            select(topics.c.user_id, topics.c.topic_id).where(
                topics.c.user_id == user_id, topics.c.topic_id == topic_id
            )
        ).one_or_none()
    return [] if found is None else [(found.user_id, found.topic_id)]


def changed_since(engine: Engine, since: datetime, user_id: str | None = None) -> list[TopicKey]:
    stored_since = exists().where(
        messages.c.user_id == topics.c.user_id,
        messages.c.topic_id == topics.c.topic_id,
        messages.c.updated_at >= since,
    )
    query = select(topics.c.user_id, topics.c.topic_id).where(
        or_(stored_since, topics.c.cards_updated_at >= since)
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


def other_extractors(
    engine: Engine, keys: list[TopicKey], extractor_id: str
) -> dict[str, list[TopicKey]]:
    """The topics among ``keys`` whose current cards come from an extractor other than
    ``extractor_id``, by that extractor's id (topics without cards are not listed)."""
    if not keys:
        return {}
    wanted = unnest(
        ("user_id", Text, [u for u, _ in keys]),
        ("topic_id", Text, [t for _, t in keys]),
    )
    query = (
        select(topics.c.user_id, topics.c.topic_id, topics.c.cards_extractor_id)
        .join(
            wanted,
            and_(topics.c.user_id == wanted.c.user_id, topics.c.topic_id == wanted.c.topic_id),
        )
        .where(
            topics.c.cards_extractor_id.is_not(None),
            topics.c.cards_extractor_id != extractor_id,
        )
        .order_by(topics.c.user_id.collate("C"), topics.c.topic_id.collate("C"))
    )
    found: dict[str, list[TopicKey]] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            found.setdefault(row.cards_extractor_id, []).append((row.user_id, row.topic_id))
    return found


def _keys(engine: Engine, query: Select[Any], user_id: str | None) -> list[TopicKey]:
    if user_id is not None:
        query = query.where(topics.c.user_id == user_id)
    # Code point order of the ids (byte order under "C"), the same on every database.
    query = query.order_by(topics.c.user_id.collate("C"), topics.c.topic_id.collate("C"))
    with engine.connect() as connection:
        return [(row.user_id, row.topic_id) for row in connection.execute(query)]
