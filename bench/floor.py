"""The extraction floor: how fast the extractor alone derives the cards of a measured backlog.

After a throughput run, every topic's stored snapshot is read back from that run's database
(untimed) and a fresh extractor instance, in this process, derives each topic's cards once. The
backlog's events over that time is the rate cardwright could reach if everything but extraction
were free; end-to-end events/s over it is ``cardwright/extraction_floor``.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from cardwright.extractors.base import load_extractor
from cardwright.schema.cards import TopicSnapshot
from cardwright.settings import Settings
from cardwright.storage.engine import make_engine
from cardwright.storage.replace import read_snapshot


def snapshots(database_url: str) -> list[TopicSnapshot]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            keys = connection.execute(
                text('SELECT user_id, topic_id FROM topics ORDER BY user_id COLLATE "C", topic_id')
            ).all()
        found = []
        for user_id, topic_id in keys:
            stored = read_snapshot(engine, user_id, topic_id)
            if stored is not None:
                found.append(stored.snapshot)
        return found
    finally:
        engine.dispose()


def measure(database_url: str, events: int, extractor_spec: str | None = None) -> dict[str, Any]:
    """Events/s at which ``extractor_spec`` (the service default if None) alone derives every
    topic of ``database_url`` once, cold."""
    spec = extractor_spec or Settings().extractor
    topics = snapshots(database_url)
    extractor = load_extractor(spec)
    started = time.perf_counter()
    for snapshot in topics:
        extractor.extract(snapshot)
    seconds = time.perf_counter() - started
    return {
        "extractor": extractor.extractor_id,
        "topics": len(topics),
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1) if seconds > 0 else None,
    }
