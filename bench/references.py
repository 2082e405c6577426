"""The references cardwright is compared with, on the same topic in the same run.

- ``raw_consume``: confluent-kafka consume-only of the topic (no parsing, no database): the
  fastest a Python process reads the backlog.
- ``raw_copy``: psycopg ``COPY`` of the message rows the backlog ends in, into the same table:
  the fastest PostgreSQL takes those rows.
- ``naive``: the obvious consumer built from the product's own pieces: per event, one
  persist transaction, one extraction of its topic (snapshot, hash, extract, replace) and one
  synchronous offset commit. No batching, no debounce.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from cardwright.consumers.extraction import TopicExtraction
from cardwright.extractors.base import load_extractor
from cardwright.schema.events import MessageEvent, parse_event
from cardwright.storage.engine import make_engine
from cardwright.storage.messages import MESSAGE_COLUMNS, persist_batch

# Records per consume() call for the raw reader: the product's default batch size.
RAW_BATCH = 1000
# consume() blocks until it has a full batch or this timeout: short, so that the last partial
# batch is not timed as waiting.
RAW_POLL_S = 0.05


def raw_consume(bootstrap: str, topic: str, expected: int, timeout_s: float) -> dict[str, Any]:
    """Read ``expected`` records with a fresh group; time from assignment to the last record."""
    assigned: list[float] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(
        [topic], on_assign=lambda _c, _p: assigned.append(time.time()) if not assigned else None
    )
    count = 0
    byte_count = 0
    deadline = time.monotonic() + timeout_s
    try:
        while count < expected and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=RAW_BATCH, timeout=RAW_POLL_S):
                if record.error() is None:
                    count += 1
                    byte_count += len(record.value() or b"")
        done = time.time()
    finally:
        consumer.close()
    seconds = done - assigned[0]
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds, 1),
        "mib_per_s": round(byte_count / 2**20 / seconds, 2),
    }


def message_rows(events: Sequence[MessageEvent]) -> list[tuple[object, ...]]:
    """The rows the events end in: each message at its highest revision."""
    latest: dict[tuple[str, str], MessageEvent] = {}
    for event in events:
        key = (event.user_id, event.message_id)
        if key not in latest or event.revision > latest[key].revision:
            latest[key] = event
    return [
        (
            e.user_id,
            e.message_id,
            e.topic_id,
            e.conversation_id,
            e.role.value,
            e.text,
            e.created_at,
            e.revision,
            e.deleted,
            e.occurred_at,
            str(e.event_id),
        )
        for e in latest.values()
    ]


def raw_copy(database_url: str, events: Sequence[MessageEvent]) -> dict[str, Any]:
    """COPY the message rows into the (empty, migrated) messages table in one transaction."""
    rows = message_rows(events)
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    columns = ", ".join(MESSAGE_COLUMNS)
    with psycopg.connect(dsn) as connection:
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY messages ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        connection.commit()
        seconds = time.perf_counter() - started
    return {
        "events": len(events),
        "rows": len(rows),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(events) / seconds, 1),
        "rows_per_s": round(len(rows) / seconds, 1),
    }


def naive(
    bootstrap: str, topic: str, database_url: str, expected: int, budget_s: float
) -> dict[str, Any]:
    """Consume one event at a time for up to ``budget_s`` seconds (or all ``expected``)."""
    engine = make_engine(database_url)
    extractor = load_extractor("rules")
    extraction = TopicExtraction(engine, extractor, "bench-naive", timeout_s=30)
    assigned: list[float] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-naive-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(
        [topic], on_assign=lambda _c, _p: assigned.append(time.time()) if not assigned else None
    )
    count = 0
    deadline = time.monotonic() + budget_s
    try:
        while count < expected and time.monotonic() < deadline:
            record = consumer.poll(timeout=1.0)
            if record is None or record.error() is not None:
                continue
            event = parse_event(record.value(), record.key())
            with engine.begin() as connection:
                persist_batch(connection, [event], extractor.extractor_id)
            extraction.run(event.user_id, event.topic_id)
            offset = TopicPartition(
                str(record.topic()), int(record.partition() or 0), int(record.offset() or 0) + 1
            )
            consumer.commit(offsets=[offset], asynchronous=False)
            count += 1
        done = time.time()
    finally:
        consumer.close()
        extraction.close()
        engine.dispose()
    seconds = done - assigned[0]
    return {
        "events": count,
        "of": expected,
        "budget_s": budget_s,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds, 1),
    }


def serial_limit(*rates: float) -> float:
    """The rate of doing each step in turn on one thread: 1 / sum(1 / rate)."""
    return 1 / sum(1 / r for r in rates)
