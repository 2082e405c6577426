"""Ids are ordered by code point, whatever the database collation.

docs/design.md, "Source hash": ties in created_at are ordered by message_id in code point order,
and the snapshot an extractor reads is ordered exactly the same way, whatever the database
collation. These tests run on a database whose default collation is ICU's en-US, which orders
'a' < 'B' < 'é' < 'Z' and puts an emoji first, where code point order gives 'B' < 'Z' < 'a' <
'é' < '😀'.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from cardwright.consumers.extraction import TopicExtraction
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import TopicSnapshot
from cardwright.schema.source_hash import ordered, source_hash
from cardwright.storage.queries import cards_by_conversation, cards_by_topic
from cardwright.storage.replace import Outcome, read_snapshot
from cardwright.storage.selection import changed_since
from tests.conftest import Services
from tests.integration.storage_support import (
    BASE,
    USER,
    as_card_tuples,
    event,
    expected_cards,
    migrated_engine,
    persist,
)

pytestmark = pytest.mark.integration

IDS = ["a", "B", "é", "Z", "😀"]
CODE_POINT_ORDER = sorted(IDS)  # Python compares str by code point
TOPIC = "topic-x"


@pytest.fixture
def icu_database_url(services: Services) -> Iterator[str]:
    """A fresh database whose default collation is ICU en-US; dropped afterwards."""
    name = f"cw_icu_{uuid.uuid4().hex[:12]}"
    admin = make_url(services.admin_database_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        try:
            conn.execute(
                sql.SQL(
                    "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'"
                    " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
                ).format(sql.Identifier(name))
            )
        except psycopg.Error as exc:  # PostgreSQL < 15 or built without ICU
            pytest.skip(f"cannot create an ICU-collated database here: {exc}")
    try:
        yield (
            make_url(services.admin_database_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def engine(icu_database_url: str) -> Iterator[Engine]:
    with migrated_engine(icu_database_url) as engine:
        yield engine


def test_the_database_collation_really_is_not_code_point_order(engine: Engine) -> None:
    """Guards the other tests: on a C-collated database they would pass on the old code too."""
    with engine.connect() as connection:
        ordered = (
            connection.execute(
                text("SELECT id FROM unnest(CAST(:ids AS text[])) AS id ORDER BY id"),
                {"ids": IDS},
            )
            .scalars()
            .all()
        )
    assert ordered != CODE_POINT_ORDER


def test_the_snapshot_is_in_code_point_order_and_its_cards_are_those_of_that_order(
    engine: Engine,
) -> None:
    """Pins: read_snapshot ordered by message_id in the database collation, so under en-US the
    extractor saw 'a','B','é','Z' while the source hash ordered 'B','Z','a','é': cards (their
    positions, their message_ids order) then depended on the database for one source hash."""
    # One link per message (a card each, ordered by first mention) and one shared decision
    # (a card citing every message in snapshot order).
    persist(
        engine,
        [
            event(mid, f"We decided to use Postgres. See https://example.com/{i}", topic_id=TOPIC)
            for i, mid in enumerate(IDS)
        ],
    )

    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    snapshot = stored.snapshot
    assert {m.created_at for m in snapshot.messages} == {BASE}
    assert [m.message_id for m in snapshot.messages] == CODE_POINT_ORDER

    extractor = RulesExtractor()
    outcome = TopicExtraction(engine, extractor, "test", 30.0).run(USER, TOPIC)
    assert outcome.outcome is Outcome.NEW_RUN

    digest = source_hash(extractor.extractor_id, snapshot.messages)
    in_order = TopicSnapshot(
        USER,
        TOPIC,
        snapshot.conversation_id,
        snapshot.state_version,
        tuple(sorted(snapshot.messages, key=lambda m: (m.created_at, m.message_id))),
    )
    drafts = extractor.extract(in_order)
    found = cards_by_topic(engine, USER, TOPIC)
    assert found is not None
    assert found.source_hash == digest
    assert as_card_tuples(found.cards) == expected_cards(in_order, digest, drafts)
    shared = [c for c in found.cards if len(c.message_ids) == len(IDS)]
    assert [c.message_ids for c in shared] == [CODE_POINT_ORDER]


def test_topic_lists_are_in_code_point_order(engine: Engine) -> None:
    """Pins: cards_by_conversation and the recompute selection ordered topic ids by the
    database collation, so their order changed from one database to another."""
    persist(engine, [event(f"m-{t}", "We decided to use Postgres.", topic_id=t) for t in IDS])

    assert [t.topic_id for t in cards_by_conversation(engine, USER, "conv-1")] == CODE_POINT_ORDER
    assert changed_since(engine, BASE) == [(USER, t) for t in CODE_POINT_ORDER]


IDENTIFIERS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ids=st.lists(IDENTIFIERS, min_size=1, max_size=8, unique=True),
    minutes=st.lists(st.integers(0, 1), min_size=8, max_size=8),
)
def test_any_snapshot_is_in_the_source_hash_order(
    engine: Engine, ids: list[str], minutes: list[int]
) -> None:
    """The invariant behind the example above: for any ids and creation times, the snapshot is
    in the order the source hash uses, (created_at, message_id by code point)."""
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE messages, topics, extract_runs, cards, extract_failures"))
    persist(
        engine,
        [
            event(m, "x", topic_id=TOPIC, minute=n)
            for m, n in zip(ids, minutes[: len(ids)], strict=True)
        ],
    )

    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    messages = list(stored.snapshot.messages)
    assert messages == ordered(messages)
