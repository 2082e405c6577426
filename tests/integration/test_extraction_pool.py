"""The extraction pool on the real stack: slow extractions overlap and still give the right
cards; a hanging one times out, is recorded after its attempts, keeps the topic's previous
cards, and neither stalls its partition nor holds up the member's exit.

No timing is asserted: overlap is counted by the extractor itself, and ``pytest.mark.timeout``
and the join's limit only guard against a hang.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

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
    wait_for,
)
from tests.integration.workload import expected_cards

GUARD_S = 240
SLOW_S = 1.0
STOP_LIMIT_S = 30.0


class Slow:
    """The rules extractor's cards, a second late; counts how many extractions overlap. It waits
    rather than computes, so unlike ``rules`` it is not CPU-bound."""

    def __init__(self) -> None:
        self._rules = RulesExtractor()
        self._lock = threading.Lock()
        self._running = 0
        self.peak = 0

    @property
    def extractor_id(self) -> str:
        return self._rules.extractor_id

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        with self._lock:
            self._running += 1
            self.peak = max(self.peak, self._running)
        try:
            time.sleep(SLOW_S)
            return self._rules.extract(snapshot)
        finally:
            with self._lock:
                self._running -= 1


class HangsOnOneTopic:
    """The rules extractor, except that it never returns for one topic (until the test ends)."""

    def __init__(self, topic_id: str) -> None:
        self._rules = RulesExtractor()
        self._topic_id = topic_id
        self.release = threading.Event()
        self.calls = 0

    @property
    def extractor_id(self) -> str:
        return self._rules.extractor_id

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        if snapshot.topic_id == self._topic_id:
            self.calls += 1
            self.release.wait()
        return self._rules.extract(snapshot)


def settings_for(pipeline: Pipeline, **overrides: object) -> Settings:
    return Settings(
        kafka_bootstrap_servers=pipeline.bootstrap,
        database_url=pipeline.database_url,
        events_topic=pipeline.topic,
        group_id=pipeline.group,
        debounce_ms=TEST_DEBOUNCE_MS,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.mark.timeout(GUARD_S)
def test_slow_extractions_overlap_and_give_every_topic_its_cards(pipeline: Pipeline) -> None:
    events = [
        event(f"t{n}", f"m{n}", text, conversation=f"c{n}")
        for n, text in enumerate(
            [
                "I'll send the draft to Alice on Friday.",
                "We decided to use PostgreSQL.",
                "Should we move the launch to March 14?",
                "Remember to ask Tom about the budget.",
                "I prefer short meetings in the morning.",
                "Let's meet in Berlin next Tuesday.",
                "We agreed to drop the beta.",
                "Can you review https://example.com/spec by Monday?",
            ]
        )
    ]
    publish(pipeline.bootstrap, pipeline.topic, events)
    extractor = Slow()
    worker = build_worker(settings_for(pipeline, extract_concurrency=4), extractor=extractor)
    assert worker.extraction.pool.slots == 4
    worker.run(until_idle_s=2)

    assert extractor.peak > 1  # extractions ran side by side
    assert extractor.peak <= 4  # never more than the slots
    for (user, topic), want in expected_cards(events).items():
        stored = cards_by_topic(pipeline.engine, user, topic)
        assert stored is not None
        assert [(c.kind, c.title) for c in stored.cards] == want, topic
    ends = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)
    assert sum(ends.values()) == len(events)


@pytest.mark.timeout(GUARD_S)
def test_a_hanging_extraction_times_out_is_recorded_and_the_member_stops_promptly(
    pipeline: Pipeline,
) -> None:
    first = [
        event("stuck", "s1", "I'll send the draft to Alice on Friday."),
        event("fine", "f1", "We decided to use PostgreSQL.", conversation="c2"),
    ]
    publish(pipeline.bootstrap, pipeline.topic, first)
    consume_until_idle(pipeline.env())
    before = cards_by_topic(pipeline.engine, "u1", "stuck")
    assert before is not None and before.cards

    later = [
        event("stuck", "s2", "Should we move the launch to March 14?", minute=1),
        event("fine", "f2", "Remember to ask Tom about the budget.", minute=1, conversation="c2"),
    ]
    publish(pipeline.bootstrap, pipeline.topic, later)
    extractor = HangsOnOneTopic("stuck")
    settings = settings_for(
        pipeline, extract_concurrency=4, extract_timeout_s=1.0, extract_attempts=3
    )
    worker = build_worker(settings, extractor=extractor)
    running = threading.Thread(target=worker.run, name="member", daemon=True)
    running.start()
    try:

        def recorded() -> list[tuple[str, int]]:
            with pipeline.engine.connect() as c:
                rows = c.execute(select(extract_failures.c.topic_id, extract_failures.c.attempts))
                return [(r.topic_id, r.attempts) for r in rows]

        assert wait_for(recorded, timeout=GUARD_S / 2) == [("stuck", 3)]
        wait_for(
            lambda: (
                sum(
                    committed_offsets(
                        pipeline.bootstrap, pipeline.group, pipeline.topic, 4
                    ).values()
                )
                == len(first) + len(later)
            ),
            timeout=GUARD_S / 2,
        )
    finally:
        worker.stop()
        running.join(STOP_LIMIT_S)
        hung = extractor.calls
        extractor.release.set()
    assert not running.is_alive()  # the hanging extraction did not hold the member up
    # The retries did not run the topic again while its first attempt still hung.
    assert hung == 1
    after = cards_by_topic(pipeline.engine, "u1", "stuck")
    assert after is not None
    assert after.cards == before.cards and after.run_id == before.run_id  # kept, never emptied
    fine = cards_by_topic(pipeline.engine, "u1", "fine")
    assert fine is not None
    want = expected_cards(first + later)[("u1", "fine")]
    assert [(c.kind, c.title) for c in fine.cards] == want
