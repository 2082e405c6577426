"""A topic row that vanished after its events were persisted (a restored or replaced database)
is never released: the member re-reads its partition from the safe offset, re-persists the
events and extracts them. Before, the offsets moved past events whose effect was gone."""

from __future__ import annotations

from sqlalchemy import create_engine, delete

from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.settings import Settings
from cardwright.storage.queries import cards_by_topic
from cardwright.storage.tables import messages, topics
from cardwright.wiring import build_worker
from tests.integration.conftest import Pipeline
from tests.integration.support import TEST_DEBOUNCE_MS, committed_offsets, event, publish


class LosesTheTopicOnce:
    """The rules extractor; on its first call for ``topic_id`` the database 'loses' the topic's
    rows (deleted behind the member's back) before the replace runs."""

    def __init__(self, database_url: str, topic_id: str) -> None:
        self._rules = RulesExtractor()
        self._engine = create_engine(database_url)
        self._topic_id = topic_id
        self.calls = 0

    @property
    def extractor_id(self) -> str:
        return self._rules.extractor_id

    def close(self) -> None:
        self._engine.dispose()

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        if snapshot.topic_id == self._topic_id:
            self.calls += 1
            if self.calls == 1:
                with self._engine.begin() as c:
                    c.execute(delete(messages).where(messages.c.topic_id == self._topic_id))
                    c.execute(delete(topics).where(topics.c.topic_id == self._topic_id))
        return self._rules.extract(snapshot)


def test_a_vanished_topic_row_is_re_read_from_kafka_not_released(pipeline: Pipeline) -> None:
    events = [
        event("lost", "l1", "I'll send the draft to Alice on Friday."),
        event("kept", "k1", "We decided to use PostgreSQL.", conversation="c2"),
    ]
    publish(pipeline.bootstrap, pipeline.topic, events)
    settings = Settings(
        kafka_bootstrap_servers=pipeline.bootstrap,
        database_url=pipeline.database_url,
        events_topic=pipeline.topic,
        group_id=pipeline.group,
        debounce_ms=TEST_DEBOUNCE_MS,
    )
    extractor = LosesTheTopicOnce(pipeline.database_url, "lost")
    worker = build_worker(settings, extractor=extractor)
    try:
        worker.run(until_idle_s=2)
    finally:
        extractor.close()

    assert extractor.calls == 2  # lost once, extracted again after the re-read
    lost = cards_by_topic(pipeline.engine, "u1", "lost")
    assert lost is not None and lost.cards
    assert cards_by_topic(pipeline.engine, "u1", "kept") is not None
    ends = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)
    assert sum(ends.values()) == len(events)
