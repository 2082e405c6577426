"""The replace transaction: record the run and swap a topic's whole card set, atomically.

Order inside ONE transaction (docs/design.md, "Storage"):
  lock the topic row -> fence stale input -> no-op if the cards already come from this hash
  -> insert the run ON CONFLICT DO NOTHING (reuse an existing run for A->B->A)
  -> delete the topic's cards -> insert the new ones -> point the topic at the run -> commit.
Readers therefore see the old complete set or the new complete set, never a mix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Integer,
    Select,
    Text,
    cast,
    delete,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.types import TypeEngine

from cardwright.schema.cards import CardDraft, LiveMessage, TopicSnapshot, card_id
from cardwright.schema.failpoints import REPLACE_AFTER_DELETE, failpoint
from cardwright.schema.usage import TokenUsage
from cardwright.storage.arrays import unnest
from cardwright.storage.tables import cards, extract_failures, extract_runs, messages, topics


class Outcome(StrEnum):
    NEW_RUN = "new"  # a run was inserted and the cards replaced
    REUSED_RUN = "reused"  # input came back to an earlier state: cards re-derived, no new run
    NOOP = "noop"  # the cards already come from this source hash
    STALE = "stale"  # newer cards exist; this extraction came from an older state
    # The topic row does not exist. Persisting an event always creates its topic's row and
    # nothing in cardwright deletes one, so for a consumer that persisted events of the topic
    # this means the database lost them (reset, restored, rows deleted by hand): their effect
    # is NOT durable. For ``cardwright reextract`` it just means "no such topic".
    MISSING = "missing"

    @property
    def durable(self) -> bool:
        """Whether everything persisted for the topic before this outcome is now reflected in
        durable cards (or fenced by newer ones), so offsets waiting on the topic may be
        released (docs/design.md, "Flow"). False only for MISSING: the events must be
        persisted again (redelivered from the committed offset), never released."""
        return self is not Outcome.MISSING


@dataclass(frozen=True, slots=True)
class ExtractResult:
    """One extraction, ready to be stored."""

    snapshot: TopicSnapshot
    source_hash: str
    extractor_id: str
    drafts: Sequence[CardDraft]
    extract_ms: int
    consumer_instance: str
    # What a metered extractor (a model) spent on it; None for extractors that call none.
    usage: TokenUsage | None = None


# The columns of a run, each with its SQL type and where its value comes from: the one list the
# single-topic insert (below) and the group commit (storage.group_replace) are built from, so a
# new column (an extractor's cost, say) is one line here plus its migration.
RUN_COLUMNS: tuple[tuple[str, str, Callable[[ExtractResult], object]], ...] = (
    ("topic_id", "text", lambda r: r.snapshot.topic_id),
    ("user_id", "text", lambda r: r.snapshot.user_id),
    ("source_hash", "text", lambda r: r.source_hash),
    ("extractor_id", "text", lambda r: r.extractor_id),
    ("state_version", "bigint", lambda r: r.snapshot.state_version),
    ("message_count", "integer", lambda r: len(r.snapshot.messages)),
    ("card_count", "integer", lambda r: len(r.drafts)),
    ("extract_ms", "integer", lambda r: r.extract_ms),
    ("consumer_instance", "text", lambda r: r.consumer_instance),
    # What a metered extractor (a model) spent; NULL for extractors that call none.
    ("model", "text", lambda r: r.usage.model if r.usage else None),
    ("prompt_tokens", "integer", lambda r: r.usage.prompt_tokens if r.usage else None),
    ("completion_tokens", "integer", lambda r: r.usage.completion_tokens if r.usage else None),
)
RUN_CONFLICT = "ON CONFLICT (topic_id, user_id, source_hash) DO NOTHING"

# The run insert as text: SQLAlchemy does not cache the compiled form of the PostgreSQL
# dialect's INSERT ... ON CONFLICT, and compiling it again for every extraction was a
# measurable share of the replace transaction. Built from constant names only.
_INSERT_RUN = text(
    f"INSERT INTO extract_runs ({', '.join(name for name, _, _ in RUN_COLUMNS)})"  # noqa: S608
    f" VALUES ({', '.join(':' + name for name, _, _ in RUN_COLUMNS)})"
    f" {RUN_CONFLICT} RETURNING run_id"
)


@dataclass(frozen=True, slots=True)
class StoredTopic:
    """A topic's input snapshot and the source hash its current cards come from."""

    snapshot: TopicSnapshot
    cards_source_hash: str | None
    cards_state_version: int | None


def read_snapshot(engine: Engine, user_id: str, topic_id: str) -> StoredTopic | None:
    """The topic's live messages and the state_version they belong to, from one snapshot.

    None when the topic row does not exist: see ``Outcome.MISSING`` for what that means to a
    consumer that persisted events of the topic (not durable; never release their offsets).
    """
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            topic = connection.execute(
                select(
                    topics.c.conversation_id,
                    topics.c.state_version,
                    topics.c.cards_source_hash,
                    topics.c.cards_state_version,
                ).where(topics.c.user_id == user_id, topics.c.topic_id == topic_id)
            ).one_or_none()
            if topic is None:
                return None
            rows = connection.execute(
                select(
                    messages.c.message_id,
                    messages.c.role,
                    messages.c.created_at,
                    messages.c.text,
                )
                .where(
                    messages.c.user_id == user_id,
                    messages.c.topic_id == topic_id,
                    messages.c.deleted.is_(False),
                )
                .order_by(*_snapshot_order())
            ).all()
    snapshot = TopicSnapshot(
        user_id=user_id,
        topic_id=topic_id,
        conversation_id=topic.conversation_id,
        state_version=topic.state_version,
        messages=tuple(LiveMessage(r.message_id, r.role, r.created_at, r.text) for r in rows),
    )
    return StoredTopic(snapshot, topic.cards_source_hash, topic.cards_state_version)


class Step(StrEnum):
    """What the replace does with one result, decided from the locked topic row alone."""

    MISSING = "missing"  # no topic row: Outcome.MISSING
    STALE = "stale"  # fenced: Outcome.STALE
    NOOP = "noop"  # cards already from this hash: move the fence only, Outcome.NOOP
    WRITE = "write"  # insert or reuse the run, replace the cards: NEW_RUN or REUSED_RUN


@dataclass(frozen=True, slots=True)
class CardState:
    """Where a topic's current cards come from: the part of its row the replace decides on."""

    cards_state_version: int | None
    cards_source_hash: str | None


def decide(row: CardState | None, result: ExtractResult) -> Step:
    """The replace's decision for ``result`` on a topic whose locked row is ``row``.

    Pure, so the one-topic path and the group commit decide alike: the freshness fence first
    (a stale worker must never overwrite newer cards), then the no-op (docs/design.md,
    "Storage").
    """
    if row is None:
        return Step.MISSING
    if _fenced(row.cards_state_version, result.snapshot.state_version):
        return Step.STALE
    if row.cards_source_hash == result.source_hash:
        return Step.NOOP
    return Step.WRITE


def state_after(row: CardState | None, result: ExtractResult, step: Step) -> CardState | None:
    """The topic row's card state once ``result`` was stored with ``step``."""
    if row is None or step in (Step.MISSING, Step.STALE):
        return row
    version = result.snapshot.state_version
    if row.cards_state_version is not None:
        version = max(version, row.cards_state_version)
    return CardState(version, result.source_hash)


def _snapshot_order() -> tuple[ColumnElement[Any], ...]:
    """The order of the snapshot an extractor reads, the source hash's (docs/design.md, "Source
    hash"): ties in created_at by message_id in code point order, which is byte order under the
    "C" collation, whatever the database's own."""
    return (messages.c.created_at, messages.c.message_id.collate("C"))


def _locked(query: Select[Any]) -> Select[Any]:
    """The per-topic lock: concurrent replaces of one topic queue here, one at a time."""
    return query.with_for_update()


def _fenced(cards_state_version: int | None, snapshot_state_version: int) -> bool:
    """The freshness fence: the topic's cards come from a newer state than this snapshot, so
    this (stale) worker must not overwrite them."""
    return cards_state_version is not None and cards_state_version > snapshot_state_version


def replace_cards(engine: Engine, result: ExtractResult) -> Outcome:
    """Store ``result`` as the topic's card set in one transaction; see the module docstring."""
    with engine.begin() as connection:
        return replace_locked(connection, result)


def replace_locked(connection: Connection, result: ExtractResult) -> Outcome:
    """The replace of one topic inside the caller's transaction, its topic row locked first."""
    snap = result.snapshot
    query = select(topics.c.cards_state_version, topics.c.cards_source_hash).where(
        topics.c.user_id == snap.user_id, topics.c.topic_id == snap.topic_id
    )
    topic = connection.execute(_locked(query)).one_or_none()
    row = None if topic is None else CardState(topic.cards_state_version, topic.cards_source_hash)
    step = decide(row, result)
    if step is Step.MISSING:
        return Outcome.MISSING
    if step is Step.STALE:
        return Outcome.STALE
    if step is Step.NOOP:
        # Same input as the current cards: keep them; only move the fence forward.
        _point_topic_at(connection, result, run_id=None)
        return Outcome.NOOP

    run_id = connection.execute(
        _INSERT_RUN, {name: value(result) for name, _, value in RUN_COLUMNS}
    ).scalar_one_or_none()
    outcome = Outcome.NEW_RUN
    if run_id is None:
        outcome = Outcome.REUSED_RUN
        run_id = connection.execute(
            select(extract_runs.c.run_id).where(
                extract_runs.c.topic_id == snap.topic_id,
                extract_runs.c.user_id == snap.user_id,
                extract_runs.c.source_hash == result.source_hash,
            )
        ).scalar_one()

    connection.execute(
        delete(cards).where(cards.c.user_id == snap.user_id, cards.c.topic_id == snap.topic_id)
    )
    failpoint(REPLACE_AFTER_DELETE)
    if result.drafts:
        connection.execute(_insert_cards(result, run_id))
    _point_topic_at(connection, result, run_id=run_id)
    return outcome


def confirm_current(engine: Engine, snapshot: TopicSnapshot, source_hash: str) -> Outcome | None:
    """The cards already come from ``source_hash``: move the fence to ``snapshot``'s state.

    Returns NOOP (or STALE), or None when another worker replaced the cards since they were
    read: the caller must then extract for real, as no drafts are at hand to store.
    """
    with engine.begin() as connection:
        topic = connection.execute(
            select(topics.c.cards_state_version, topics.c.cards_source_hash)
            .where(topics.c.user_id == snapshot.user_id, topics.c.topic_id == snapshot.topic_id)
            .with_for_update()
        ).one_or_none()
        if topic is None:
            return Outcome.MISSING
        if topic.cards_state_version is not None and (
            topic.cards_state_version > snapshot.state_version
        ):
            return Outcome.STALE
        if topic.cards_source_hash != source_hash:
            return None
        connection.execute(
            update(topics)
            .where(topics.c.user_id == snapshot.user_id, topics.c.topic_id == snapshot.topic_id)
            .values(
                cards_state_version=func.greatest(
                    topics.c.cards_state_version, snapshot.state_version
                )
            )
        )
    return Outcome.NOOP


def _point_topic_at(connection: Connection, result: ExtractResult, run_id: int | None) -> None:
    snap = result.snapshot
    values: dict[str, object] = {
        "cards_state_version": func.greatest(topics.c.cards_state_version, snap.state_version),
    }
    if run_id is not None:
        values |= {
            "current_run_id": run_id,
            "cards_source_hash": result.source_hash,
            "cards_extractor_id": result.extractor_id,
            "cards_updated_at": func.now(),
        }
    connection.execute(
        update(topics)
        .where(topics.c.user_id == snap.user_id, topics.c.topic_id == snap.topic_id)
        .values(values)
    )


def _insert_cards(result: ExtractResult, run_id: int) -> Executable:
    """All of the topic's cards in one statement (arrays per column, see storage.arrays); what
    every card of the topic shares is a literal, so psycopg builds only the arrays that vary
    (building arrays in Python is most of this statement's cost, see storage.group_replace)."""
    snap = result.snapshot
    rows = [card_row(result, run_id, i, draft) for i, draft in enumerate(result.drafts)]
    shared: dict[str, ColumnElement[Any]] = {
        "run_id": literal(run_id, BigInteger),
        "user_id": literal(snap.user_id, Text),
        "topic_id": literal(snap.topic_id, Text),
        "conversation_id": literal(snap.conversation_id, Text),
    }
    arrays = unnest(
        *(
            (name, type_, [row[name] for row in rows])
            for name, type_ in CARD_TYPES
            if name not in shared
        )
    )
    columns: list[ColumnElement[Any]] = []
    for name, _ in CARD_TYPES:
        if name in shared:
            columns.append(shared[name])
        elif name == "message_ids":
            # JSON text, cast per row: psycopg would send a list of lists as a 2-D array.
            columns.append(cast(arrays.c[name], JSONB))
        else:
            columns.append(arrays.c[name])
    return core_insert(cards).from_select([name for name, _ in CARD_TYPES], select(*columns))


# The columns of a card and the element type of the array that carries each (replace_cards'
# unnest, storage.group_replace's COPY).
CARD_TYPES: tuple[tuple[str, type[TypeEngine[Any]]], ...] = (
    ("card_id", Text),
    ("run_id", BigInteger),
    ("user_id", Text),
    ("topic_id", Text),
    ("conversation_id", Text),
    ("position", Integer),
    ("kind", Text),
    ("title", Text),
    ("body", Text),
    ("message_ids", Text),
)


def card_row(result: ExtractResult, run_id: int, position: int, draft: CardDraft) -> dict[str, Any]:
    snap = result.snapshot
    return {
        "card_id": card_id(snap.user_id, snap.topic_id, result.source_hash, position),
        "run_id": run_id,
        "user_id": snap.user_id,
        "topic_id": snap.topic_id,
        "conversation_id": snap.conversation_id,
        "position": position,
        "kind": draft.kind.value,
        "title": draft.title,
        "body": draft.body,
        "message_ids": json.dumps(list(draft.message_ids)),
    }


def record_failure(
    engine: Engine,
    snapshot: TopicSnapshot,
    extractor_id: str,
    error: str,
    attempts: int,
    consumer_instance: str,
    usage: TokenUsage | None = None,
) -> None:
    """Remember a failed extraction and the tokens its attempts spent; the topic keeps its
    previous cards."""
    with engine.begin() as connection:
        connection.execute(
            insert(extract_failures).values(
                user_id=snapshot.user_id,
                topic_id=snapshot.topic_id,
                state_version=snapshot.state_version,
                extractor_id=extractor_id,
                error=error[:4000],
                attempts=attempts,
                consumer_instance=consumer_instance,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
            )
        )
