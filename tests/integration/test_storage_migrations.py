"""Alembic migrations on a real PostgreSQL: up, down, up again, idempotence, offline DDL, and the
uniqueness of extract runs that the replace transaction relies on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from cardwright.storage.engine import make_engine
from cardwright.storage.migrate import current_revision, downgrade, upgrade, upgrade_sql
from cardwright.storage.tables import extract_runs, metadata, topics
from tests.integration.storage_support import migrated_engine

pytestmark = pytest.mark.integration

TABLES = {"messages", "topics", "extract_runs", "extract_failures", "cards"}
UNIQUE_RUN = "uq_extract_runs_topic_id_user_id_source_hash"


def product_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def run_row(source_hash: str, *, topic_id: str = "t", user_id: str = "u") -> dict[str, object]:
    return {
        "topic_id": topic_id,
        "user_id": user_id,
        "source_hash": source_hash,
        "extractor_id": "rules@1",
        "state_version": 1,
        "message_count": 1,
        "card_count": 0,
        "extract_ms": 0,
        "consumer_instance": "test",
    }


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_upgrade_downgrade_to_base_and_upgrade_again_leaves_all_five_tables(engine: Engine) -> None:
    """A full round trip works: head has the five tables, base has none, head again has all."""
    assert current_revision(engine) is None
    upgrade(engine)
    head = current_revision(engine)
    assert head is not None
    assert product_tables(engine) == TABLES

    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert product_tables(engine) == set()

    upgrade(engine)
    assert current_revision(engine) == head
    assert product_tables(engine) == TABLES
    assert UNIQUE_RUN in {c["name"] for c in inspect(engine).get_unique_constraints("extract_runs")}


def test_upgrading_an_up_to_date_database_is_a_no_op(engine: Engine) -> None:
    """A second upgrade keeps the revision, the schema and the rows."""
    upgrade(engine)
    head = current_revision(engine)
    with engine.begin() as connection:
        connection.execute(insert(topics).values(user_id="u", topic_id="t", conversation_id="c"))
    with engine.connect() as connection:
        columns_before = connection.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            )
        ).all()

    upgrade(engine)

    assert current_revision(engine) == head
    with engine.connect() as connection:
        columns_after = connection.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            )
        ).all()
        assert connection.execute(select(topics.c.conversation_id)).scalars().all() == ["c"]
    assert columns_after == columns_before


def test_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    """What the migrations build is what storage/tables.py declares: autogenerate finds nothing."""
    with migrated_engine(database_url) as engine, engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_upgrade_sql_holds_the_ddl_of_every_table_and_the_run_uniqueness() -> None:
    """The offline DDL names every table and the unique run constraint; it needs no server."""
    sql = upgrade_sql("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    for table in TABLES:
        assert f"CREATE TABLE {table} (" in sql
    assert f"CONSTRAINT {UNIQUE_RUN} UNIQUE (topic_id, user_id, source_hash)" in sql
    assert "CREATE TABLE alembic_version" in sql


def test_unique_constraint_rejects_a_second_run_for_the_same_topic_user_and_hash(
    database_url: str,
) -> None:
    """extract_runs allows one row per (topic_id, user_id, source_hash); other keys still fit."""
    with migrated_engine(database_url) as engine:
        with engine.begin() as connection:
            connection.execute(insert(extract_runs), [run_row("h1")])
            # Same hash for another topic or another user, and another hash: all distinct runs.
            connection.execute(
                insert(extract_runs),
                [run_row("h1", topic_id="t2"), run_row("h1", user_id="u2"), run_row("h2")],
            )

        with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
            connection.execute(insert(extract_runs), [run_row("h1")])
        assert UNIQUE_RUN in str(raised.value.orig)

        with engine.connect() as connection:
            count = connection.execute(
                select(extract_runs.c.run_id).where(extract_runs.c.source_hash == "h1")
            ).all()
        assert len(count) == 3
