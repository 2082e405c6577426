"""The stored message is the event with the highest (revision, event_id), every field of it.

docs/design.md, "Message event": whatever the batching, the member or the group, the stored row
is that event's text, role, created_at, deleted, occurred_at, event_id and revision, and the
topic's state_version rises whenever a stored message changes. Checked on a real PostgreSQL:
by hand for the two ways the old upsert broke the rule, and as a property over random histories
cut into random batches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Text, column, select, text, values

from cardwright.schema.cards import LiveMessage
from cardwright.schema.events import MessageEvent, Op
from cardwright.schema.source_hash import source_hash
from cardwright.storage.replace import read_snapshot
from cardwright.storage.tables import messages
from tests.integration.storage_support import (
    BASE,
    CONVERSATION,
    EXTRACTOR_ID,
    TOPIC,
    USER,
    migrated_engine,
    persist,
    state_version,
)

pytestmark = pytest.mark.integration

LOW_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
HIGH_ID = uuid.UUID("ffffffff-ffff-4fff-bfff-fffffffffffe")

FIELDS = (
    "message_id",
    "topic_id",
    "conversation_id",
    "role",
    "text",
    "created_at",
    "revision",
    "deleted",
    "occurred_at",
    "event_id",
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url) as engine:
        yield engine


def make(
    message_id: str,
    body: str,
    revision: int,
    *,
    event_id: uuid.UUID | None = None,
    role: str = "user",
    created_minute: int = 0,
    occurred_s: int = 0,
) -> MessageEvent:
    op = Op.CREATED if revision == 0 else (Op.DELETED if body == "" else Op.EDITED)
    return MessageEvent(
        event_id=event_id or uuid.uuid4(),
        op=op,
        message_id=message_id,
        conversation_id=CONVERSATION,
        topic_id=TOPIC,
        user_id=USER,
        role=role,
        text=body,
        created_at=BASE + timedelta(minutes=created_minute),
        revision=revision,
        occurred_at=BASE + timedelta(seconds=occurred_s),
    )


def stored(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """Every field an event fills, of each of the user's stored messages."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(*(messages.c[name] for name in FIELDS)).where(messages.c.user_id == USER)
        ).all()
    return {row.message_id: tuple(row) for row in rows}


def as_row(event: MessageEvent) -> tuple[Any, ...]:
    return (
        event.message_id,
        event.topic_id,
        event.conversation_id,
        event.role.value,
        event.text,
        event.created_at,
        event.revision,
        event.deleted,
        event.occurred_at,
        str(event.event_id),
    )


def model(history: Sequence[MessageEvent]) -> dict[str, tuple[Any, ...]]:
    """What the rule says: per message, the event with the highest (revision, event_id), where
    event_ids compare as UUIDs (by value), not as the text the implementation stores."""
    best: dict[str, MessageEvent] = {}
    for item in history:
        current = best.get(item.message_id)
        if current is None or (item.revision, item.event_id) > (
            current.revision,
            current.event_id,
        ):
            best[item.message_id] = item
    return {message_id: as_row(item) for message_id, item in best.items()}


# --- the two ways the old upsert broke the rule -------------------------------------------------


def test_a_same_revision_event_with_a_higher_event_id_wins_in_a_later_batch_as_within_one(
    engine: Engine,
) -> None:
    """Pins: the upsert's WHERE was ``revision < excluded.revision``, so at equal revisions the
    higher event_id won inside one batch (Python's tie-break) but lost in a later batch."""
    low = make("m1", "low", 1, event_id=LOW_ID)
    high = make("m1", "high", 1, event_id=HIGH_ID, role="assistant")
    persist(engine, [make("m1", "first", 0)])

    persist(engine, [low])
    version = state_version(engine)
    later = persist(engine, [high])

    assert stored(engine) == {"m1": as_row(high)}
    assert later.changed_messages == 1
    assert later.needs_extract == {(USER, TOPIC)}
    assert state_version(engine) > version

    # The other order, and a redelivery of the loser, leave the winner in place.
    persist(engine, [low])
    assert stored(engine) == {"m1": as_row(high)}
    assert state_version(engine) == version + 1


def test_an_edit_that_changes_created_at_stores_it_and_raises_state_version(engine: Engine) -> None:
    """Pins: created_at was left out of the upsert's SET, so an edit carrying a corrected
    creation time kept the old one, and the snapshot (and its source hash) ordered by it."""
    persist(
        engine, [make("m1", "one", 0, created_minute=5), make("m2", "two", 0, created_minute=3)]
    )
    version = state_version(engine)
    moved = make("m1", "one, edited", 1, created_minute=1)

    result = persist(engine, [moved])

    assert result.changed_messages == 1
    assert stored(engine)["m1"] == as_row(moved)
    assert state_version(engine) > version
    snapshot = read_snapshot(engine, USER, TOPIC)
    assert snapshot is not None
    assert [(m.message_id, m.created_at) for m in snapshot.snapshot.messages] == [
        ("m1", moved.created_at),
        ("m2", BASE + timedelta(minutes=3)),
    ]


def test_postgresql_orders_event_ids_as_python_does(engine: Engine) -> None:
    """Pins the SQL half of the tie-break: stored event_id text under COLLATE "C" orders as
    Python orders the same strings and as PostgreSQL orders them as uuid."""
    ids = [str(uuid.uuid4()) for _ in range(200)] + [str(LOW_ID), str(HIGH_ID)]
    rows = values(column("id", Text), name="ids").data([(i,) for i in ids])
    with engine.connect() as connection:
        by_text = (
            connection.execute(select(rows.c.id).order_by(rows.c.id.collate("C"))).scalars().all()
        )
        by_uuid = (
            connection.execute(select(rows.c.id).order_by(text("CAST(id AS uuid)"))).scalars().all()
        )
    assert by_text == sorted(ids) == by_uuid


# --- the property ------------------------------------------------------------------------------

TEXTS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=6,
)


@st.composite
def histories(draw: st.DrawFn) -> list[MessageEvent]:
    """Events of a few messages: revisions with gaps and repeats (equal revisions, different
    event_ids), deletes and later undeleting edits, roles and created_at changing on edits."""
    history: list[MessageEvent] = []
    for index in range(draw(st.integers(1, 3))):
        for _ in range(draw(st.integers(1, 6))):
            revision = draw(st.integers(0, 4))
            deleted = revision > 0 and draw(st.booleans())
            history.append(
                make(
                    f"m{index}",
                    "" if deleted else draw(TEXTS),
                    revision,
                    event_id=draw(st.uuids()),
                    role=draw(st.sampled_from(["user", "assistant", "system"])),
                    created_minute=draw(st.integers(0, 2)),
                    occurred_s=draw(st.integers(0, 100)),
                )
            )
    return history


@st.composite
def deliveries(draw: st.DrawFn, history: list[MessageEvent]) -> list[list[MessageEvent]]:
    """The history permuted, with redeliveries, cut into one or more batches."""
    extra = draw(st.lists(st.sampled_from(history), max_size=len(history)))
    arrived = draw(st.permutations(history + extra))
    cuts: list[int] = []
    if len(arrived) > 1:
        cuts = sorted(draw(st.sets(st.integers(1, len(arrived) - 1), max_size=5)))
    bounds = [0, *cuts, len(arrived)]
    return [arrived[a:b] for a, b in pairwise(bounds)]


def fresh(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE messages, topics, extract_runs, cards, extract_failures"))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_stored_messages_are_the_max_event_by_revision_and_event_id_whatever_the_batches(
    engine: Engine, data: st.DataObject
) -> None:
    """Pins both old bugs at once (ties lost across batches, created_at never updated): any
    history, in any order and any cut into batches, ends with every field of every message from
    its highest (revision, event_id) event; state_version rises with every batch that changed a
    stored message; the snapshot's source hash is the model's."""
    history = data.draw(histories(), label="history")
    batches = data.draw(deliveries(history), label="batches")
    fresh(engine)

    before: dict[str, tuple[Any, ...]] = {}
    version = -1
    for batch in batches:
        assert persist(engine, batch).rejected == {}
        after = stored(engine)
        now = state_version(engine)
        if after != before:
            assert now > version, "a stored message changed but state_version did not rise"
        before, version = after, now

    expected = model(history)
    assert stored(engine) == expected
    snapshot = read_snapshot(engine, USER, TOPIC)
    assert snapshot is not None
    field = {name: index for index, name in enumerate(FIELDS)}
    live = sorted(
        (
            LiveMessage(
                r[field["message_id"]], r[field["role"]], r[field["created_at"]], r[field["text"]]
            )
            for r in expected.values()
            if not r[field["deleted"]]
        ),
        key=lambda m: (m.created_at, m.message_id),
    )
    assert list(snapshot.snapshot.messages) == live
    assert source_hash(EXTRACTOR_ID, snapshot.snapshot.messages) == source_hash(EXTRACTOR_ID, live)
