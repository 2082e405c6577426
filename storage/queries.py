"""Read side: a topic's cards, a conversation's cards topic by topic, and a topic's runs.

Each read runs in one REPEATABLE READ transaction, so a reader sees every topic's complete card
set from one moment, never half of a replace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from cardwright.storage.tables import cards, extract_runs, topics


@dataclass(frozen=True, slots=True)
class StoredCard:
    card_id: str
    run_id: int
    user_id: str
    topic_id: str
    conversation_id: str
    position: int
    kind: str
    title: str
    body: str
    message_ids: list[str]


@dataclass(frozen=True, slots=True)
class TopicCards:
    topic_id: str
    conversation_id: str
    run_id: int | None
    source_hash: str | None
    cards: list[StoredCard]


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: int
    source_hash: str
    extractor_id: str
    state_version: int
    message_count: int
    card_count: int
    extract_ms: int
    consumer_instance: str
    created_at: datetime
    current: bool
    # Model-backed extractors only (None otherwise): the model and the tokens the run spent.
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _read(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="REPEATABLE READ")


def cards_by_topic(engine: Engine, user_id: str, topic_id: str) -> TopicCards | None:
    with _read(engine) as connection, connection.begin():
        topic = connection.execute(
            select(
                topics.c.conversation_id, topics.c.current_run_id, topics.c.cards_source_hash
            ).where(topics.c.user_id == user_id, topics.c.topic_id == topic_id)
        ).one_or_none()
        if topic is None:
            return None
        rows = connection.execute(
            select(cards)
            .where(cards.c.user_id == user_id, cards.c.topic_id == topic_id)
            .order_by(cards.c.position)
        ).all()
    return TopicCards(
        topic_id=topic_id,
        conversation_id=topic.conversation_id,
        run_id=topic.current_run_id,
        source_hash=topic.cards_source_hash,
        cards=[StoredCard(**row._mapping) for row in rows],
    )


def cards_by_conversation(engine: Engine, user_id: str, conversation_id: str) -> list[TopicCards]:
    """Each topic of the conversation with its own complete card set, in topic_id code point
    order whatever the database collation."""
    with _read(engine) as connection, connection.begin():
        topic_rows = connection.execute(
            select(topics.c.topic_id, topics.c.current_run_id, topics.c.cards_source_hash)
            .where(topics.c.user_id == user_id, topics.c.conversation_id == conversation_id)
            # Code point order, as everywhere ids are ordered, whatever the database collation.
            .order_by(topics.c.topic_id.collate("C"))
        ).all()
        card_rows = connection.execute(
            select(cards)
            .where(cards.c.user_id == user_id, cards.c.conversation_id == conversation_id)
            .order_by(cards.c.topic_id.collate("C"), cards.c.position)
        ).all()
    by_topic: dict[str, list[StoredCard]] = {}
    for row in card_rows:
        by_topic.setdefault(row.topic_id, []).append(StoredCard(**row._mapping))
    return [
        TopicCards(
            topic_id=t.topic_id,
            conversation_id=conversation_id,
            run_id=t.current_run_id,
            source_hash=t.cards_source_hash,
            cards=by_topic.get(t.topic_id, []),
        )
        for t in topic_rows
    ]


def runs_of_topic(engine: Engine, user_id: str, topic_id: str) -> list[RunRow]:
    with _read(engine) as connection, connection.begin():
        current = connection.execute(
            select(topics.c.current_run_id).where(
                topics.c.user_id == user_id, topics.c.topic_id == topic_id
            )
        ).scalar_one_or_none()
        rows = connection.execute(
            select(extract_runs)
            .where(extract_runs.c.user_id == user_id, extract_runs.c.topic_id == topic_id)
            .order_by(extract_runs.c.run_id)
        ).all()
    return [
        RunRow(
            run_id=r.run_id,
            source_hash=r.source_hash,
            extractor_id=r.extractor_id,
            state_version=r.state_version,
            message_count=r.message_count,
            card_count=r.card_count,
            extract_ms=r.extract_ms,
            consumer_instance=r.consumer_instance,
            created_at=r.created_at,
            current=r.run_id == current,
            model=r.model,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
        )
        for r in rows
    ]
