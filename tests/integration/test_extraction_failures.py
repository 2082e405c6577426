"""A failing extractor: retried with backoff, then recorded; the old cards stay, nothing stalls."""

from __future__ import annotations

from sqlalchemy import func, select

from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.settings import Settings
from cardwright.storage.queries import cards_by_topic
from cardwright.storage.tables import extract_failures
from cardwright.wiring import build_worker
from tests.integration.conftest import Pipeline
from tests.integration.support import (
    TEST_DEBOUNCE_MS,
    committed_offsets,
    consume_until_idle,
    event,
    publish,
)
from tests.integration.workload import expected_cards


class FailsForOneTopic:
    """The rules extractor, except that it raises for one topic (an extractor bug)."""

    def __init__(self, topic_id: str) -> None:
        self._rules = RulesExtractor()
        self._topic_id = topic_id
        self.attempts = 0

    @property
    def extractor_id(self) -> str:
        return self._rules.extractor_id

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        if snapshot.topic_id == self._topic_id:
            self.attempts += 1
            raise RuntimeError("model endpoint returned garbage")
        return self._rules.extract(snapshot)


def test_a_failing_topic_keeps_its_cards_and_does_not_stall_its_partition(
    pipeline: Pipeline,
) -> None:
    first = [
        event("flaky", "f1", "I'll send the draft to Alice on Friday."),
        event("steady", "s1", "We decided to use PostgreSQL.", conversation="c2"),
    ]
    publish(pipeline.bootstrap, pipeline.topic, first)
    consume_until_idle(pipeline.env())
    before = cards_by_topic(pipeline.engine, "u1", "flaky")
    assert before is not None and before.cards

    later = [
        event("flaky", "f2", "Should we move the launch to March 14?", minute=1),
        event("steady", "s2", "Remember to ask Tom about the budget.", minute=1, conversation="c2"),
    ]
    publish(pipeline.bootstrap, pipeline.topic, later)
    settings = Settings(
        kafka_bootstrap_servers=pipeline.bootstrap,
        database_url=pipeline.database_url,
        events_topic=pipeline.topic,
        group_id=pipeline.group,
        debounce_ms=TEST_DEBOUNCE_MS,
        extract_attempts=3,
    )
    extractor = FailsForOneTopic("flaky")
    worker = build_worker(settings, extractor=extractor)
    worker.run(until_idle_s=2)

    assert extractor.attempts == 3  # retried with backoff, then given up
    with pipeline.engine.connect() as c:
        failures = c.execute(
            select(extract_failures.c.topic_id, extract_failures.c.attempts, func.count()).group_by(
                extract_failures.c.topic_id, extract_failures.c.attempts
            )
        ).all()
    assert [tuple(f) for f in failures] == [("flaky", 3, 1)]
    after = cards_by_topic(pipeline.engine, "u1", "flaky")
    assert after is not None
    assert after.cards == before.cards and after.run_id == before.run_id  # never emptied
    steady = cards_by_topic(pipeline.engine, "u1", "steady")
    assert steady is not None
    want = expected_cards(first + later)[("u1", "steady")]
    assert [(c.kind, c.title) for c in steady.cards] == want
    ends = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)
    assert sum(ends.values()) == len(first) + len(later)  # the partition moved on

    # An operator's later retry (here: the next consumer with a working extractor) catches up.
    publish(
        pipeline.bootstrap,
        pipeline.topic,
        [event("flaky", "f3", "I prefer short meetings in the morning.", minute=2)],
    )
    consume_until_idle(pipeline.env())
    fixed = cards_by_topic(pipeline.engine, "u1", "flaky")
    assert fixed is not None
    assert len(fixed.cards) > len(before.cards)
