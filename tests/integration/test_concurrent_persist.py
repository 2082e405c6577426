"""Two writers persisting the same events at once (a zombie and the new owner, or two groups).

Found by the chaos suite (seed 3, two groups): the second writer read the topic's cards as
current, then found the events already stored by the first and concluded that nothing needed
extracting, so it committed past events whose cards did not exist yet.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from cardwright.consumers.extraction import TopicExtraction
from cardwright.extractors.rules import RulesExtractor
from cardwright.storage.messages import PersistResult, persist_batch
from tests.integration.storage_support import (
    EXTRACTOR_ID,
    TEXT_A,
    TEXT_B,
    TOPIC,
    USER,
    event,
    migrated_engine,
    persist,
)

# The blocked writer shows up in pg_stat_activity within milliseconds; the margin is for a
# busy machine.
BLOCK_WAIT_S = 30.0


def test_events_stored_by_a_concurrent_writer_still_ask_for_extraction(database_url: str) -> None:
    with migrated_engine(database_url) as engine:
        persist(engine, [event("m1", TEXT_A)])
        TopicExtraction(engine, RulesExtractor(), "setup", 30.0).run(USER, TOPIC)
        newer = event("m2", TEXT_B, minute=1)

        first = engine.connect()
        first_tx = first.begin()
        persist_batch(first, [newer], EXTRACTOR_ID)  # stored, not yet committed

        second: list[PersistResult] = []
        writer = threading.Thread(target=lambda: second.append(persist(engine, [newer])))
        writer.start()
        with engine.connect() as watcher:
            deadline = time.monotonic() + BLOCK_WAIT_S
            while not watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one():
                assert time.monotonic() < deadline, "the second writer never waited"
                time.sleep(0.01)
        first_tx.commit()
        first.close()
        writer.join(BLOCK_WAIT_S)

        # The first writer may crash before extracting; the second must not count on it.
        assert (USER, TOPIC) in second[0].needs_extract
