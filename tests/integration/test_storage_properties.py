"""Property: persisting a topic's events is order-independent on a real PostgreSQL.

A well-formed history gives every (message, revision) exactly one state. Whatever order the
events arrive in, however often each is redelivered and however they are cut into batches, the
stored messages and the topic's source hash end as they do when the history is applied in order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from cardwright.schema.events import MessageEvent
from cardwright.schema.source_hash import source_hash
from cardwright.storage.replace import read_snapshot
from tests.integration.storage_support import (
    EXTRACTOR_ID,
    TOPIC,
    USER,
    event,
    message_rows,
    migrated_engine,
    persist,
)

pytestmark = pytest.mark.integration

# Any text but NUL, which PostgreSQL text cannot store (see the pipeline tests).
TEXTS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    rows: list[tuple[str, int, str, bool]]
    source_hash: str


@st.composite
def message_history(draw: st.DrawFn, message_id: str, minute: int) -> list[MessageEvent]:
    """Created at revision 0, edits at rising revisions with distinct texts, maybe a delete."""
    texts = draw(st.lists(TEXTS, min_size=1, max_size=4, unique=True))
    steps = draw(st.lists(st.integers(1, 3), min_size=len(texts) - 1, max_size=len(texts) - 1))
    role = draw(st.sampled_from(["user", "assistant", "system"]))
    revisions = [0]
    for step in steps:
        revisions.append(revisions[-1] + step)
    history = [
        event(message_id, body, revision=revision, role=role, minute=minute)
        for body, revision in zip(texts, revisions, strict=True)
    ]
    if draw(st.booleans()):
        history.append(
            event(message_id, "", revision=revisions[-1] + draw(st.integers(1, 3)), minute=minute)
        )
    return history


@st.composite
def topic_history(draw: st.DrawFn) -> list[MessageEvent]:
    count = draw(st.integers(1, 4))
    # Some messages share a creation time, so the (created_at, message_id) order is exercised.
    minutes = draw(st.lists(st.integers(0, 2), min_size=count, max_size=count))
    history: list[MessageEvent] = []
    for index, minute in enumerate(minutes):
        history.extend(draw(message_history(f"m{index}", minute)))
    return history


@st.composite
def deliveries(draw: st.DrawFn, history: list[MessageEvent]) -> list[list[MessageEvent]]:
    """The history permuted, with redeliveries, cut into one or more batches."""
    extra = draw(st.lists(st.sampled_from(history), max_size=len(history)))
    arrived = draw(st.permutations(history + extra))
    cuts: list[int] = []
    if len(arrived) > 1:
        cuts = sorted(draw(st.sets(st.integers(1, len(arrived) - 1), max_size=4)))
    bounds = [0, *cuts, len(arrived)]
    return [arrived[a:b] for a, b in pairwise(bounds)]


def fresh(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE messages, topics, extract_runs, cards, extract_failures"))


def apply(engine: Engine, batches: Sequence[Sequence[MessageEvent]]) -> Outcome:
    fresh(engine)
    for batch in batches:
        result = persist(engine, batch)
        assert result.rejected == {}
    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    return Outcome(message_rows(engine), source_hash(EXTRACTOR_ID, stored.snapshot.messages))


def final_rows(history: Sequence[MessageEvent]) -> list[tuple[str, int, str, bool]]:
    """What the history means: each message at its highest revision."""
    last: dict[str, MessageEvent] = {}
    for item in history:
        if item.message_id not in last or item.revision > last[item.message_id].revision:
            last[item.message_id] = item
    return sorted((e.message_id, e.revision, e.text, e.deleted) for e in last.values())


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url) as engine:
        yield engine


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_order_duplication_and_batching_of_events_ends_in_the_same_messages_and_hash(
    engine: Engine, data: st.DataObject
) -> None:
    history = data.draw(topic_history(), label="history")
    batches = data.draw(deliveries(history), label="batches")

    in_order = apply(engine, [[item] for item in history])
    shuffled = apply(engine, batches)

    assert in_order.rows == final_rows(history)
    assert shuffled == in_order
