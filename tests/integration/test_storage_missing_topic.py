"""A topic whose row vanished after its events were persisted is reported as not durable.

docs/design.md, "Flow": an offset is committed only when every event at or below it is durable,
persisted and extracted. Persisting always creates the topic row and cardwright never deletes
one, so a missing row under a consumer that persisted the topic's events means the database
lost them (a reset or restore under a running member). The storage side reports that as
``Outcome.MISSING`` with ``durable`` False on every path that can meet it (the snapshot read,
the replace, the confirmation of current cards), and every other outcome as durable, so the
worker can tell "release the offsets" from "these events must be persisted again".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from cardwright.consumers.extraction import TopicExtraction
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.source_hash import source_hash
from cardwright.storage.replace import (
    ExtractResult,
    Outcome,
    confirm_current,
    read_snapshot,
    replace_cards,
)
from tests.integration.storage_support import (
    TEXT_A,
    TEXT_B,
    TOPIC,
    USER,
    event,
    message_rows,
    migrated_engine,
    persist,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url) as engine:
        yield engine


def extraction(engine: Engine) -> TopicExtraction:
    return TopicExtraction(engine, RulesExtractor(), "test", 30.0)


def lose_everything(engine: Engine) -> None:
    """What a database reset or restore under a running member does to its writes."""
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE messages, topics, extract_runs, cards, extract_failures"))


def result_for_current_input(engine: Engine) -> ExtractResult:
    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    extractor = RulesExtractor()
    return ExtractResult(
        snapshot=stored.snapshot,
        source_hash=source_hash(extractor.extractor_id, stored.snapshot.messages),
        extractor_id=extractor.extractor_id,
        drafts=extractor.extract(stored.snapshot),
        extract_ms=1,
        consumer_instance="test",
    )


def test_a_topic_lost_before_its_snapshot_is_read_is_missing_and_not_durable(
    engine: Engine,
) -> None:
    """Pins: the run on a vanished topic came back as an outcome like any other, and the
    worker released the offsets of events whose messages were gone."""
    result = persist(engine, [event("m1", TEXT_A)])
    assert result.needs_extract == {(USER, TOPIC)}
    lose_everything(engine)

    outcome = extraction(engine).run(USER, TOPIC)

    assert outcome.outcome is Outcome.MISSING
    assert not outcome.outcome.durable
    assert message_rows(engine) == []  # the events' effect is really gone


def test_a_topic_lost_between_extraction_and_replace_is_missing_and_not_durable(
    engine: Engine,
) -> None:
    """The same, when the loss happens while the extractor runs (outside any transaction)."""
    persist(engine, [event("m1", TEXT_A)])
    result = result_for_current_input(engine)
    lose_everything(engine)

    outcome = replace_cards(engine, result)

    assert outcome is Outcome.MISSING
    assert not outcome.durable


def test_a_topic_lost_before_its_current_cards_are_confirmed_is_missing_and_not_durable(
    engine: Engine,
) -> None:
    """The same on the no-extraction path, where the cards were found current."""
    persist(engine, [event("m1", TEXT_A)])
    result = result_for_current_input(engine)
    assert replace_cards(engine, result) is Outcome.NEW_RUN
    lose_everything(engine)

    outcome = confirm_current(engine, result.snapshot, result.source_hash)

    assert outcome is Outcome.MISSING
    assert not outcome.durable


def test_every_outcome_of_a_present_topic_is_durable(engine: Engine) -> None:
    """New, no-op, reused and stale runs all leave the persisted input reflected in cards."""
    persist(engine, [event("m1", TEXT_A)])
    first = result_for_current_input(engine)
    seen = [replace_cards(engine, first), replace_cards(engine, first)]
    persist(engine, [event("m1", TEXT_B, revision=1)])
    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NEW_RUN
    seen.append(replace_cards(engine, first))  # an older state: fenced by the newer cards
    persist(engine, [event("m1", TEXT_A, revision=2)])
    seen.append(extraction(engine).run(USER, TOPIC).outcome)  # back to the first input

    assert seen == [Outcome.NEW_RUN, Outcome.NOOP, Outcome.STALE, Outcome.REUSED_RUN]
    assert all(outcome.durable for outcome in seen)
    assert {o for o in Outcome if not o.durable} == {Outcome.MISSING}
