"""Group commit on a real PostgreSQL: many topics read in one snapshot and stored in one
transaction, each topic as if stored alone (docs/design.md, "Inside a member").

- ``read_snapshots`` returns exactly what ``read_snapshot`` returns for each topic, on a database
  whose collation is not code point order;
- ``replace_many`` gives the outcomes, runs, cards and topic rows that ``replace_cards`` gives
  for the same results one at a time, in order, on a second database: stale versions,
  duplicates of one topic, missing topic rows and values PostgreSQL refuses included;
- two batches over overlapping topics in opposite orders, at once, never deadlock.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from cardwright.schema.cards import CardDraft, CardKind, LiveMessage, TopicKey, TopicSnapshot
from cardwright.schema.errors import DatabaseRefused
from cardwright.schema.events import MessageEvent
from cardwright.storage.engine import translate_errors
from cardwright.storage.group_replace import Stored, read_snapshots, replace_many
from cardwright.storage.replace import ExtractResult, Outcome, read_snapshot, replace_cards
from tests.conftest import Services
from tests.integration.storage_support import BASE, event, migrated_engine, persist

pytestmark = pytest.mark.integration

TABLES = "messages, topics, extract_runs, cards, extract_failures"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url) as engine:
        yield engine


@contextmanager
def database(services: Services, create: str) -> Iterator[str]:
    """A fresh database made by ``create`` (CREATE DATABASE {} ...); dropped afterwards. A
    server that cannot make it (no ICU, PostgreSQL < 15) skips the test."""
    name = f"cw_gr_{uuid.uuid4().hex[:12]}"
    admin = make_url(services.admin_database_url).set(drivername="postgresql")
    admin_dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL(create).format(sql.Identifier(name)))
        except psycopg.Error as exc:
            pytest.skip(f"cannot create this database here: {exc}")
    try:
        url = make_url(services.admin_database_url).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def sequential_engine(services: Services) -> Iterator[Engine]:
    """A second database, where the same results are stored one at a time by replace_cards."""
    with database(services, "CREATE DATABASE {}") as url, migrated_engine(url) as engine:
        yield engine


@pytest.fixture
def icu_engine(services: Services) -> Iterator[Engine]:
    """A database whose default collation is ICU en-US ('a' < 'B' < 'é' < 'Z')."""
    create = (
        "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'"
        " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
    )
    with database(services, create) as url, migrated_engine(url) as engine:
        yield engine


def fresh(*engines: Engine) -> None:
    for engine in engines:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {TABLES}"))


# --- read_snapshots ---------------------------------------------------------------------------

# Ids whose code point order ('B' < 'Z' < 'a' < 'é' < '😀') differs from en-US order.
IDS = ["a", "B", "é", "Z", "😀"]
TOPICS = ["t-a", "t-B", "t-é"]


@st.composite
def topic_events(draw: st.DrawFn, topic_id: str) -> list[MessageEvent]:
    """A topic's messages, many sharing a creation minute; some edited or deleted."""
    events = []
    for message_id in draw(st.lists(st.sampled_from(IDS), unique=True, min_size=1, max_size=5)):
        minute = draw(st.integers(0, 1))
        mid = f"{topic_id}/{message_id}"
        events.append(event(mid, f"text {message_id}", topic_id=topic_id, minute=minute))
        change = draw(st.sampled_from(["none", "edit", "delete"]))
        if change == "edit":
            events.append(event(mid, "edited", revision=1, topic_id=topic_id, minute=minute))
        elif change == "delete":
            events.append(event(mid, "", revision=1, topic_id=topic_id, minute=minute))
    return events


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_read_snapshots_returns_what_read_snapshot_returns_for_each_topic(
    icu_engine: Engine, data: st.DataObject
) -> None:
    fresh(icu_engine)
    stored_topics = data.draw(st.lists(st.sampled_from(TOPICS), unique=True), label="stored")
    events = [e for topic in stored_topics for e in data.draw(topic_events(topic), label=topic)]
    if events:
        persist(icu_engine, events)
    keys = [("user-1", topic) for topic in [*TOPICS, "t-never"]]

    many = read_snapshots(icu_engine, keys)

    one_by_one = {key: read_snapshot(icu_engine, *key) for key in keys}
    assert many == {key: found for key, found in one_by_one.items() if found is not None}
    assert set(many) == {("user-1", topic) for topic in stored_topics}


# --- replace_many against replace_cards one at a time -----------------------------------------

USERS = ["u-1", "U-2"]
# Topic rows exist for these keys; ("u-1", "gone") never has one.
KEYS: list[TopicKey] = [(u, t) for u in USERS for t in ("t-1", "T-2")]
GONE: TopicKey = ("u-1", "gone")
HASHES = [f"{i:064x}" for i in range(3)]  # a small pool, so no-ops and reused runs happen
GOOD = [
    CardDraft(kind=CardKind.DECISION, title="Use Postgres", message_ids=("m-1",)),
    CardDraft(kind=CardKind.PERSON, title="Alice", body="sends the report", message_ids=("m-1",)),
    CardDraft(kind=CardKind.LINK, title="https://example.com", message_ids=("m-1", "m-2")),
]
# Values PostgreSQL refuses: NUL in text (psycopg refuses it before sending, SQLSTATE class 22)
# and a \u0000 escape inside JSONB (the server refuses it: 22P05, aborting the transaction).
REFUSED = [
    CardDraft(kind=CardKind.DECISION, title="nul \x00 title", message_ids=("m-1",)),
    CardDraft(kind=CardKind.DATE, title="nul in ids", message_ids=("m-\x00",)),
]


def conversation_of(key: TopicKey) -> str:
    return f"c-{key[0]}-{key[1]}"


@st.composite
def results(draw: st.DrawFn) -> ExtractResult:
    key = draw(st.sampled_from([*KEYS, GONE]))
    drafts = draw(st.lists(st.sampled_from(GOOD), max_size=3))
    if draw(st.integers(0, 9)) == 0:
        drafts.insert(draw(st.integers(0, len(drafts))), draw(st.sampled_from(REFUSED)))
    count = draw(st.integers(0, 2))
    messages = tuple(
        LiveMessage(f"m-{i}", "user", BASE + timedelta(minutes=i), f"text {i}")
        for i in range(count)
    )
    return ExtractResult(
        snapshot=TopicSnapshot(
            user_id=key[0],
            topic_id=key[1],
            conversation_id=conversation_of(key),
            state_version=draw(st.integers(0, 3)),
            messages=messages,
        ),
        source_hash=draw(st.sampled_from(HASHES)),
        extractor_id=draw(st.sampled_from(["rules@1", "rules@2"])),
        drafts=drafts,
        extract_ms=draw(st.integers(0, 5)),
        consumer_instance=draw(st.sampled_from(["member-a", "member-b"])),
    )


def comparable(stored: Stored) -> object:
    if isinstance(stored, DatabaseRefused):
        return ("refused", stored.sqlstate)
    return stored


def one_at_a_time(engine: Engine, batch: Sequence[ExtractResult]) -> list[object]:
    outcomes: list[object] = []
    for result in batch:
        try:
            with translate_errors():
                outcomes.append(replace_cards(engine, result))
        except DatabaseRefused as refused:
            outcomes.append(comparable(refused))
    return outcomes


def tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored fact but generated ids and clock readings; a run is named by its hash."""
    queries = {
        "topics": "SELECT t.user_id, t.topic_id, t.conversation_id, t.state_version,"
        " t.cards_state_version, t.cards_source_hash, t.cards_extractor_id,"
        " r.source_hash, r.user_id, r.topic_id, t.cards_updated_at IS NULL"
        " FROM topics t LEFT JOIN extract_runs r ON r.run_id = t.current_run_id",
        "runs": "SELECT user_id, topic_id, source_hash, extractor_id, state_version,"
        " message_count, card_count, extract_ms, consumer_instance FROM extract_runs",
        "cards": "SELECT c.card_id, r.user_id, r.topic_id, r.source_hash, c.user_id, c.topic_id,"
        " c.conversation_id, c.position, c.kind, c.title, c.body, c.message_ids::text"
        " FROM cards c JOIN extract_runs r ON r.run_id = c.run_id",
    }
    with engine.connect() as connection:
        return {
            name: sorted(tuple(row) for row in connection.execute(text(query)))
            for name, query in queries.items()
        }


def seed(engine: Engine) -> None:
    """The same topic rows in either database: one message in each topic of KEYS."""
    persisted = persist(
        engine,
        [
            event(f"m-{t}", "hi", user_id=u, topic_id=t, conversation_id=conversation_of((u, t)))
            for u, t in KEYS
        ],
    )
    assert persisted.rejected == {}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(results(), min_size=1, max_size=8), min_size=1, max_size=3))
def test_replace_many_stores_what_replace_cards_stores_one_at_a_time(
    engine: Engine, sequential_engine: Engine, batches: list[list[ExtractResult]]
) -> None:
    fresh(engine, sequential_engine)
    seed(engine)
    seed(sequential_engine)
    for batch in batches:
        expected = one_at_a_time(sequential_engine, batch)

        got = [comparable(stored) for stored in replace_many(engine, batch)]

        assert got == expected
        assert tables(engine) == tables(sequential_engine)


def test_a_refused_topic_drops_out_alone_and_keeps_its_previous_cards(engine: Engine) -> None:
    seed(engine)
    snapshots = {key: found.snapshot for key, found in read_snapshots(engine, KEYS).items()}

    def result(key: TopicKey, source_hash: str, drafts: list[CardDraft]) -> ExtractResult:
        return ExtractResult(snapshots[key], source_hash, "rules@1", drafts, 1, "member-a")

    first = replace_many(engine, [result(key, HASHES[0], GOOD) for key in KEYS])
    assert first == [Outcome.NEW_RUN] * len(KEYS)
    before = tables(engine)

    second = replace_many(
        engine,
        [result(KEYS[0], HASHES[1], [*GOOD, REFUSED[1]])]
        + [result(key, HASHES[1], GOOD[:1]) for key in KEYS[1:]],
    )

    assert isinstance(second[0], DatabaseRefused)
    assert second[1:] == [Outcome.NEW_RUN] * (len(KEYS) - 1)
    after = tables(engine)
    # The refused topic kept its run and cards; every other topic has its new ones.
    refused_cards = [row for row in after["cards"] if (row[1], row[2]) == KEYS[0]]
    assert refused_cards == [row for row in before["cards"] if (row[1], row[2]) == KEYS[0]]
    assert {row[3] for row in after["cards"] if (row[1], row[2]) != KEYS[0]} == {HASHES[1]}


# --- deadlock freedom -------------------------------------------------------------------------

DEADLOCK_TOPICS = 60
DEADLOCK_ROUNDS = 15


def test_batches_over_shared_topics_in_opposite_orders_at_once_never_deadlock(
    engine: Engine,
) -> None:
    """Two connections replace overlapping topic sets, one in ascending and one in descending
    order, released together round after round: both always finish, none aborted."""
    keys = [("u-1", f"topic-{i:03d}") for i in range(DEADLOCK_TOPICS)]
    persist(
        engine, [event(f"m-{t}", "hi", user_id=u, topic_id=t, conversation_id="c") for u, t in keys]
    )
    snapshots = {key: found.snapshot for key, found in read_snapshots(engine, keys).items()}
    # Thread 0 takes the first two thirds ascending, thread 1 the last two thirds descending.
    shares = [keys[: 2 * DEADLOCK_TOPICS // 3], keys[DEADLOCK_TOPICS // 3 :][::-1]]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    outcomes: list[list[Stored]] = [[], []]

    def work(worker: int) -> None:
        try:
            for round_ in range(DEADLOCK_ROUNDS):
                batch = [
                    ExtractResult(
                        snapshots[key],
                        f"{round_:032x}{worker:032x}",
                        "rules@1",
                        GOOD,
                        1,
                        f"member-{worker}",
                    )
                    for key in shares[worker]
                ]
                barrier.wait(timeout=60)
                outcomes[worker].extend(replace_many(engine, batch))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for worker in range(2):
        assert len(outcomes[worker]) == DEADLOCK_ROUNDS * len(shares[worker])
        assert set(outcomes[worker]) == {Outcome.NEW_RUN}
    # Every topic ends with one complete card set, from its current run.
    with engine.connect() as connection:
        incomplete = connection.execute(
            text(
                "SELECT t.topic_id FROM topics t JOIN cards c USING (user_id, topic_id)"
                " GROUP BY t.topic_id, t.current_run_id"
                " HAVING count(*) <> :cards OR bool_or(c.run_id <> t.current_run_id)"
            ),
            {"cards": len(GOOD)},
        ).all()
    assert incomplete == []
