"""Group commit: many topics' snapshots read together, many extractions stored in ONE transaction.

docs/design.md ("Inside a member"): finished topics are replaced in batches, topic rows locked in
a fixed order, each topic fenced on its own. ``replace_many`` does, in one transaction:

  lock every topic row of the batch FOR UPDATE in (user_id, topic_id) code point order
  (COLLATE "C", the order persist_batch takes topic rows in too), so two batches that share
  topics (a member and a zombie, a replace and a persist) never wait on each other in a cycle
  -> decide each result with replace_cards' own pure ``decide`` (fence, no-op, write)
  -> SAVEPOINT -> insert the runs ON CONFLICT DO NOTHING RETURNING, earlier runs found in the
     same statement -> delete the written topics' cards -> COPY the new cards
     -> update the topic rows; each step one statement for the whole batch.

A value PostgreSQL refuses (a NUL in a title, class 22 or 23) rolls the batch back to its
savepoint; the batch is then stored one result at a time, each in a savepoint of its own, so only
the refused topic drops out and the others commit. Refusals are rare (an extractor bug), so the
common path stays set-wise. Duplicates of one topic in a batch are stored in rounds (the k-th
result of each topic in round k), so every outcome, run and card equals what ``replace_cards``
gives for the same results one at a time, in order (tests/integration/test_group_replace.py).

Cards are written by COPY (see ``copy_cards`` for the measurement that chose it over unnest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Text,
    and_,
    case,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError

from cardwright.schema.cards import LiveMessage, TopicKey, TopicSnapshot
from cardwright.schema.errors import DatabaseRefused
from cardwright.schema.failpoints import REPLACE_AFTER_DELETE, failpoint
from cardwright.storage import replace
from cardwright.storage.arrays import unnest
from cardwright.storage.engine import translate_errors
from cardwright.storage.replace import (
    CARD_TYPES,
    RUN_COLUMNS,
    RUN_CONFLICT,
    CardState,
    ExtractResult,
    Outcome,
    Step,
    StoredTopic,
    card_row,
    decide,
    replace_locked,
    state_after,
)
from cardwright.storage.tables import cards, messages, topics

# What storing one result came to: an Outcome as replace_cards returns it, or the refusal
# replace_cards would have raised (the caller treats it as that topic's failure).
Stored = Outcome | DatabaseRefused

_RUN_NAMES = ", ".join(name for name, _, _ in RUN_COLUMNS)
# The batch's runs in one round trip: inserted ON CONFLICT DO NOTHING; a run that already exists
# (input back at an earlier state, A -> B -> A) is found by the outer SELECT, whose snapshot
# holds every run committed before this statement. No other transaction can be inserting a run
# of these topics meanwhile: every run insert happens under its topic's row lock, which we hold.
# Built from constant names only; every value is bound.
_GIVEN_RUNS = ", ".join(f"CAST(:{name} AS {type_}[])" for name, type_, _ in RUN_COLUMNS)
_INSERT_RUNS = text(
    f"WITH given AS (SELECT * FROM unnest({_GIVEN_RUNS}) AS g({_RUN_NAMES})),"  # noqa: S608
    f" inserted AS (INSERT INTO extract_runs ({_RUN_NAMES}) SELECT {_RUN_NAMES} FROM given"
    f" {RUN_CONFLICT} RETURNING user_id, topic_id, run_id)"
    " SELECT g.user_id, g.topic_id, coalesce(i.run_id, r.run_id) AS run_id,"
    " i.run_id IS NOT NULL AS is_new"
    " FROM given g LEFT JOIN inserted i ON i.user_id = g.user_id AND i.topic_id = g.topic_id"
    " LEFT JOIN extract_runs r ON i.run_id IS NULL AND r.topic_id = g.topic_id"
    " AND r.user_id = g.user_id AND r.source_hash = g.source_hash"
)


def read_snapshots(engine: Engine, keys: Iterable[TopicKey]) -> dict[TopicKey, StoredTopic]:
    """``read_snapshot`` of many topics: one REPEATABLE READ snapshot, one query per table.

    Topics without a row are absent from the result (``read_snapshot`` returns None for them).
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            given = _keys(wanted)
            topic_rows = connection.execute(
                select(
                    topics.c.user_id,
                    topics.c.topic_id,
                    topics.c.conversation_id,
                    topics.c.state_version,
                    topics.c.cards_source_hash,
                    topics.c.cards_state_version,
                ).join(
                    given,
                    and_(
                        topics.c.user_id == given.c.user_id,
                        topics.c.topic_id == given.c.topic_id,
                    ),
                )
            ).all()
            given = _keys(wanted)
            message_rows = connection.execute(
                select(
                    messages.c.user_id,
                    messages.c.topic_id,
                    messages.c.message_id,
                    messages.c.role,
                    messages.c.created_at,
                    messages.c.text,
                )
                .join(
                    given,
                    and_(
                        messages.c.user_id == given.c.user_id,
                        messages.c.topic_id == given.c.topic_id,
                    ),
                )
                .where(messages.c.deleted.is_(False))
                # read_snapshot's order within each topic (docs/design.md, "Source hash"), by
                # the same function (tests plant a collation bug through it).
                .order_by(*replace._snapshot_order())
            ).all()
    live: dict[TopicKey, list[LiveMessage]] = {}
    for r in message_rows:
        live.setdefault((r.user_id, r.topic_id), []).append(
            LiveMessage(r.message_id, r.role, r.created_at, r.text)
        )
    return {
        (t.user_id, t.topic_id): StoredTopic(
            TopicSnapshot(
                user_id=t.user_id,
                topic_id=t.topic_id,
                conversation_id=t.conversation_id,
                state_version=t.state_version,
                messages=tuple(live.get((t.user_id, t.topic_id), ())),
            ),
            t.cards_source_hash,
            t.cards_state_version,
        )
        for t in topic_rows
    }


def replace_many(engine: Engine, results: Sequence[ExtractResult]) -> list[Stored]:
    """Store every result in one transaction; what each came to, in the order given.

    A list, not a mapping by topic: a batch may hold several results of one topic, each with
    its own outcome. Errors other than refusals (outage, contention, configuration) abort the
    whole batch and propagate, as they do from ``replace_cards``.
    """
    if not results:
        return []
    stored: dict[int, Stored] = {}
    with engine.begin() as connection:
        state = _lock_topics(connection, {_key(r) for r in results})
        for indices in _rounds(results):
            _store_round(connection, results, indices, state, stored)
    return [stored[index] for index in range(len(results))]


def _key(result: ExtractResult) -> TopicKey:
    return (result.snapshot.user_id, result.snapshot.topic_id)


def _keys(keys: Sequence[TopicKey]) -> Any:
    return unnest(
        ("user_id", Text, [user for user, _ in keys]),
        ("topic_id", Text, [topic for _, topic in keys]),
    )


def _lock_topics(connection: Connection, keys: set[TopicKey]) -> dict[TopicKey, CardState | None]:
    """Lock the batch's topic rows, in code point order of (user_id, topic_id); their state.

    PostgreSQL locks rows as the sorted result is returned (LockRows runs above the Sort), and
    the keys never change, so every batch takes its locks in the same global order.
    """
    given = _keys(sorted(keys))
    query = (
        select(
            topics.c.user_id,
            topics.c.topic_id,
            topics.c.cards_state_version,
            topics.c.cards_source_hash,
        )
        .join(
            given, and_(topics.c.user_id == given.c.user_id, topics.c.topic_id == given.c.topic_id)
        )
        .order_by(topics.c.user_id.collate("C"), topics.c.topic_id.collate("C"))
    )
    # replace._locked (FOR UPDATE, which locks table rows only, not the unnest's) is the
    # one-topic path's lock too, looked up at call time: tests/member.py plants a bug by
    # replacing it, and the group commit must not escape the chaos checker's eye.
    rows = connection.execute(replace._locked(query))
    found: dict[TopicKey, CardState | None] = {
        (row.user_id, row.topic_id): CardState(row.cards_state_version, row.cards_source_hash)
        for row in rows
    }
    return found


def _rounds(results: Sequence[ExtractResult]) -> list[list[int]]:
    """Indices of ``results`` in rounds: round k holds the k-th result of each topic, in order.

    Results of different topics commute, so storing round after round equals storing one after
    another; within a round every topic appears once, so it can be written set-wise.
    """
    seen: Counter[TopicKey] = Counter()
    rounds: list[list[int]] = []
    for index, result in enumerate(results):
        nth = seen[_key(result)]
        seen[_key(result)] += 1
        if nth == len(rounds):
            rounds.append([])
        rounds[nth].append(index)
    return rounds


def _store_round(
    connection: Connection,
    results: Sequence[ExtractResult],
    indices: list[int],
    state: dict[TopicKey, CardState | None],
    stored: dict[int, Stored],
) -> None:
    steps: dict[int, Step] = {}
    for index in indices:
        step = decide(state.get(_key(results[index])), results[index])
        if step is Step.MISSING:
            stored[index] = Outcome.MISSING
        elif step is Step.STALE:
            stored[index] = Outcome.STALE
        else:
            steps[index] = step
    if not steps:
        return
    try:
        with translate_errors(), connection.begin_nested():
            new = _write(
                connection,
                [results[i] for i, step in steps.items() if step is Step.WRITE],
                [results[i] for i, step in steps.items() if step is Step.NOOP],
            )
    except DatabaseRefused:
        _store_one_by_one(connection, results, list(steps), state, stored)
        return
    for index, step in steps.items():
        key = _key(results[index])
        if step is Step.NOOP:
            stored[index] = Outcome.NOOP
        else:
            stored[index] = Outcome.NEW_RUN if new[key] else Outcome.REUSED_RUN
        state[key] = state_after(state.get(key), results[index], step)


def _store_one_by_one(
    connection: Connection,
    results: Sequence[ExtractResult],
    indices: list[int],
    state: dict[TopicKey, CardState | None],
    stored: dict[int, Stored],
) -> None:
    """The error path: each result as replace_cards stores it, in a savepoint of its own."""
    for index in indices:
        try:
            with translate_errors(), connection.begin_nested():
                outcome = replace_locked(connection, results[index])
        except DatabaseRefused as refused:
            stored[index] = refused
            continue
        stored[index] = outcome
        key = _key(results[index])
        step = {Outcome.NOOP: Step.NOOP, Outcome.STALE: Step.STALE}.get(outcome, Step.WRITE)
        state[key] = state_after(state.get(key), results[index], step)


def _write(
    connection: Connection, writes: list[ExtractResult], noops: list[ExtractResult]
) -> dict[TopicKey, bool]:
    """One round's statements (its topics distinct); for each written topic, whether its run
    is new (False: an existing run of the same source hash is reused)."""
    run_ids: dict[TopicKey, int] = {}
    new: dict[TopicKey, bool] = {}
    if writes:
        rows = connection.execute(
            _INSERT_RUNS, {name: [value(r) for r in writes] for name, _, value in RUN_COLUMNS}
        )
        for row in rows:
            run_ids[(row.user_id, row.topic_id)] = row.run_id
            new[(row.user_id, row.topic_id)] = row.is_new
        given = _keys([_key(r) for r in writes])
        connection.execute(
            delete(cards).where(
                cards.c.user_id == given.c.user_id, cards.c.topic_id == given.c.topic_id
            )
        )
        failpoint(REPLACE_AFTER_DELETE)
        drafted = [(r, run_ids[_key(r)]) for r in writes if r.drafts]
        if drafted:
            copy_cards(connection, drafted)
    pointed = [*writes, *noops]
    rows_ = unnest(
        ("user_id", Text, [r.snapshot.user_id for r in pointed]),
        ("topic_id", Text, [r.snapshot.topic_id for r in pointed]),
        ("state_version", BigInteger, [r.snapshot.state_version for r in pointed]),
        ("run_id", BigInteger, [run_ids.get(_key(r)) for r in pointed]),
        ("source_hash", Text, [r.source_hash for r in pointed]),
        ("extractor_id", Text, [r.extractor_id for r in pointed]),
    )
    written = rows_.c.run_id.is_not(None)
    # As replace_cards' _point_topic_at: the fence moves forward for every result; a written
    # topic also points at its run (a no-op keeps its run, hash, extractor and time).
    connection.execute(
        update(topics)
        .where(topics.c.user_id == rows_.c.user_id, topics.c.topic_id == rows_.c.topic_id)
        .values(
            cards_state_version=func.greatest(topics.c.cards_state_version, rows_.c.state_version),
            current_run_id=func.coalesce(rows_.c.run_id, topics.c.current_run_id),
            cards_source_hash=case(
                (written, rows_.c.source_hash), else_=topics.c.cards_source_hash
            ),
            cards_extractor_id=case(
                (written, rows_.c.extractor_id), else_=topics.c.cards_extractor_id
            ),
            cards_updated_at=case((written, func.now()), else_=topics.c.cards_updated_at),
        )
    )
    return new


_CARD_NAMES = [name for name, _ in CARD_TYPES]
_COPY_CARDS = f"COPY cards ({', '.join(_CARD_NAMES)}) FROM STDIN"


def copy_cards(connection: Connection, written: Sequence[tuple[ExtractResult, int]]) -> None:
    """The cards of every ``(result, run_id)`` by COPY (text format), inside the transaction.

    COPY, not replace_cards' INSERT ... SELECT FROM unnest(...): for one batch of 50 topics x 8
    cards on our 2-core machine (shared, load average 10-17), four runs of bench/group_commit.py
    gave medians of 67-165 ms for unnest, 32-88 ms for text COPY and 40-101 ms for binary COPY;
    text COPY took about half of unnest's time in every run. Most of unnest's time is psycopg
    building ten text arrays in Python. replace_cards keeps unnest: for one topic's few cards the
    difference is small, and its error path stays plain SQLAlchemy. A driver error here is
    wrapped as SQLAlchemy wraps any statement's, so translate_errors classifies it by SQLSTATE.
    """
    raw: Any = connection.connection.driver_connection
    try:
        with raw.cursor() as cursor, cursor.copy(_COPY_CARDS) as copy:
            for result, run_id in written:
                for position, draft in enumerate(result.drafts):
                    row = card_row(result, run_id, position, draft)
                    copy.write_row([row[name] for name in _CARD_NAMES])
    except psycopg.Error as exc:
        raise DBAPIError.instance(_COPY_CARDS, None, exc, psycopg.Error) from exc
