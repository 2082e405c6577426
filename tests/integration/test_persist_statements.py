"""persist_batch sends one statement per kind per batch, and a replay is one lookup.

storage/messages.py: the lookup reads topics and messages in one statement; the writer then
sends at most one statement each for new topic rows, the message upsert, the topic lock and
the topic update, whatever the batch size (no per-topic executemany).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy import event as sa_event

from tests.integration.storage_support import event, migrated_engine, persist

pytestmark = pytest.mark.integration


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs (executemany counts once per row)."""
    sent: list[str] = []

    def record(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        sent.extend([statement] * (len(params) if many else 1))

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


def test_a_batch_is_one_statement_per_kind_and_its_replay_one_lookup(database_url: str) -> None:
    batch = [
        event(f"m-{t}-{i}", f"text {i}", topic_id=f"t-{t}", conversation_id=f"c-{t}", minute=i)
        for t in range(20)
        for i in range(3)
    ]
    with migrated_engine(database_url) as engine:
        with statements(engine) as first:
            assert persist(engine, batch).rejected == {}
        with statements(engine) as replay:
            result = persist(engine, batch)

    kinds = [s.split()[0] for s in first]
    # lookup, new topics, message upsert, topic lock (SELECT), topic update
    assert kinds == ["SELECT", "INSERT", "INSERT", "SELECT", "UPDATE"]
    assert len(replay) == 1 and replay[0].startswith("SELECT")
    assert result.changed_messages == 0
