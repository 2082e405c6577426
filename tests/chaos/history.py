"""Reading back what happened: the event log and DLQ from Kafka, committed offsets, the final
database, the audit logs and the samples. The only I/O the checker needs, kept apart from it.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from psycopg.rows import dict_row

from tests.chaos.model import LogRecord

# The harness's own Kafka clients stay quiet: during a broker restart they would print every
# refused connection, drowning the run's progress.
QUIET_KAFKA = logging.getLogger("tests.chaos.kafka")
QUIET_KAFKA.addHandler(logging.NullHandler())
QUIET_KAFKA.propagate = False

# Reading a few thousand records from a local broker takes a second; the margin covers a broker
# that has just restarted.
READ_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class DeadRecord:
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp_ms: int

    def source(self) -> tuple[int, int] | None:
        try:
            return int(self.headers["cardwright.source.partition"]), int(
                self.headers["cardwright.source.offset"]
            )
        except (KeyError, ValueError):
            return None


@dataclass(slots=True)
class DbState:
    messages: list[dict[str, Any]] = field(default_factory=list)
    topics: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chaos-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "logger": QUIET_KAFKA,
        }
    )


def read_topic(bootstrap: str, topic: str) -> list[tuple[int, int, Any]]:
    """Every record of ``topic`` from its start to its current end: (partition, offset, msg)."""
    consumer = _consumer(bootstrap)
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: list[tuple[int, int, Any]] = []
        done: set[int] = set()
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end")
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if msg.error() is not None:
                    continue
                p, o = int(msg.partition() or 0), int(msg.offset() or 0)
                if o < ends[p]:
                    out.append((p, o, msg))
                if o + 1 >= ends[p]:
                    done.add(p)
        return out
    finally:
        consumer.close()


def read_log(bootstrap: str, topic: str) -> list[LogRecord]:
    return [
        LogRecord(p, o, m.key(), m.value(), m.timestamp()[1])
        for p, o, m in read_topic(bootstrap, topic)
    ]


def read_dlq(bootstrap: str, dlq: str) -> list[DeadRecord]:
    records = []
    for _p, _o, m in read_topic(bootstrap, dlq):
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (m.headers() or [])}
        records.append(DeadRecord(m.key(), m.value(), headers, m.timestamp()[1]))
    return records


def committed_and_ends(
    bootstrap: str, group: str, topic: str
) -> tuple[dict[int, int], dict[int, int]]:
    """The group's committed offset and the log end, per partition (-1: nothing committed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": QUIET_KAFKA})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
    finally:
        consumer.close()
    return committed, ends


def read_db(conninfo: str) -> DbState:
    state = DbState()
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            for name in ("messages", "topics", "extract_runs", "cards"):
                rows = cur.execute(f"SELECT * FROM {name}").fetchall()
                setattr(state, "runs" if name == "extract_runs" else name, rows)
    return state


def pending_topics(conninfo: str) -> int:
    """Topics whose cards do not come from their current input state."""
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM topics WHERE cards_state_version IS DISTINCT FROM state_version"
        ).fetchone()
    return int(row[0]) if row else 0


def read_jsonl(paths: list[Path]) -> list[dict[str, Any]]:
    """Lines of JSON-lines files; a torn last line (a writer killed mid-write) is skipped."""
    lines = []
    for path in paths:
        for raw in path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
    return lines


def read_audit(out_dir: Path) -> list[dict[str, Any]]:
    """Every audit line, in time order, tagged with its worker and the worker's group.

    Workers are named <cluster label><number> (tests.chaos.cluster), one cluster per group.
    """
    lines = []
    for path in sorted((out_dir / "audit").glob("*.jsonl")):
        for line in read_jsonl([path]):
            line["worker"] = path.stem
            line["cluster"] = re.sub(r"\d+$", "", path.stem)
            lines.append(line)
    return sorted(lines, key=lambda line: line["t"])
