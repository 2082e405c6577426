"""Generated records through a real consumer group member: nothing crashes, nothing is lost.

    python -m tests.fuzz.member_campaign --records 50000 --seed 1

Needs CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS and CARDWRIGHT_DATABASE_URL (``cardwright stack up``).
It makes its own database and events topic, publishes a seeded mix of valid events (edits that
change created_at, same-revision conflicts, revision gaps, undeletes, ties, offsets and
microseconds, non-ASCII ids) and poison records (every kind of bad input the design names), runs
``cardwright consume --until-idle`` as a real member, and then checks, record by record, from
Kafka and PostgreSQL alone:

- the member exited 0 (no crash), and its committed offsets reached the end of every partition;
- every record is either in the DLQ exactly once (by its source partition and offset) or applied:
  its message is stored at an event at least as high in ``(revision, event_id)``;
- no record meant to be valid is in the DLQ (nothing diverted); every poison record is;
- every message is stored exactly as the highest ``(revision, event_id)`` of its valid events;
- every topic's cards come from its current input (or its last extraction is a recorded failure).

The expected outcome of each record is decided here, from how it was made, not by the product's
parser. The summary (and anomalies, if any) is printed; exit 1 on any anomaly.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

PARTITIONS = 4
MAX_TEXT = 32 * 1024
# A member reading a backlog this size on a shared 2-core machine needs minutes, not hours.
CONSUME_TIMEOUT_S = 1800
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-7))]


@dataclass(slots=True)
class Made:
    """One generated record and what it must become."""

    key: bytes | None
    value: bytes
    valid: bool  # False: it must end in the DLQ
    kind: str
    event: dict[str, Any] | None = None  # the valid event, for the applied check


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
        # Conversation of each (user, topic), the topic of each (user, message), revisions.
        self.conversation: dict[tuple[str, str], str] = {}
        self.message_topic: dict[tuple[str, str], str] = {}
        self.revision: dict[tuple[str, str], int] = {}
        self.created: dict[tuple[str, str], datetime] = {}
        self.counter = 0

    def _id(self, prefix: str, n: int) -> str:
        fancy = ["", "é", "😀", "ß", "Ω"]
        return f"{prefix}{self.rng.choice(fancy)}{n}"

    def _instant(self, moment: datetime) -> str:
        tz = self.rng.choice(OFFSETS)
        return moment.astimezone(tz).isoformat()

    def _text(self) -> str:
        r = self.rng.random()
        if r < 0.02:  # near the limit, multi-byte
            return "é" * (MAX_TEXT // 2 - self.rng.randint(0, 8))
        words = [
            "we decided to ship it",
            "call Ana on Monday",
            "what about Lisbon?",
            "I prefer tea",
            "see https://example.org",
            "ok",
            "déjà vu 😀",
        ]
        return " ".join(self.rng.choice(words) for _ in range(self.rng.randint(1, 6)))

    def valid_event(self) -> dict[str, Any]:
        rng = self.rng
        user = self._id("u", rng.randrange(30))
        topic = self._id("t", rng.randrange(400))
        key = (user, topic)
        conversation = self.conversation.setdefault(key, self._id("c", rng.randrange(200)))
        known = [m for (u, m), t in self.message_topic.items() if u == user and t == topic]
        if known and rng.random() < 0.6:
            message = rng.choice(known)
            rev = self.revision[(user, message)]
            # One in ten: a same-revision conflict (another event_id); else a rise, with gaps.
            revision = rev if rng.random() < 0.1 else rev + rng.choice([1, 1, 1, 2, 5])
            deleted = rng.random() < 0.15
            op = "deleted" if deleted else "edited"
            if revision == 0:
                op, deleted = "created", False
            created = self.created[(user, message)]
            if not deleted and rng.random() < 0.2:  # an edit that moves created_at
                created = self.base + timedelta(seconds=rng.randrange(0, 3600 * 24))
                self.created[(user, message)] = created
            self.revision[(user, message)] = max(rev, revision)
        else:
            self.counter += 1
            message = self._id("m", self.counter)
            revision, op, deleted = 0, "created", False
            # A small pool of instants, so created_at ties happen.
            created = self.base + timedelta(
                minutes=rng.randrange(0, 50), microseconds=rng.choice([0, 1, 999999])
            )
            self.message_topic[(user, message)] = topic
            self.revision[(user, message)] = 0
            self.created[(user, message)] = created
        return {
            "schema_version": 1,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "op": op,
            "message_id": message,
            "conversation_id": conversation,
            "topic_id": topic,
            "user_id": user,
            "role": rng.choice(["user", "assistant", "system"]),
            "text": "" if deleted else self._text(),
            "created_at": self._instant(created),
            "revision": revision,
            "occurred_at": self._instant(self.base + timedelta(hours=revision)),
        }

    def poison(self) -> Made:
        rng = self.rng
        event = self.valid_event()
        key = event["topic_id"].encode()

        def as_json(obj: Any) -> bytes:
            return json.dumps(obj, ensure_ascii=False).encode()

        kind = rng.choice(POISON_KINDS)
        value: bytes
        if kind == "revision_as_string":
            value = as_json({**event, "revision": str(event["revision"])})
        elif kind == "schema_version_bool":
            value = as_json({**event, "schema_version": True})
        elif kind == "schema_version_2":
            value = as_json({**event, "schema_version": 2})
        elif kind == "epoch_created_at":
            value = as_json({**event, "created_at": 1767225600})
        elif kind == "duplicate_key":
            body = as_json(event)
            value = body[:-1] + b', "text": "twice"}'
        elif kind == "year_above_9999":
            value = as_json({**event, "created_at": "9999-12-31T23:00:00-05:00"})
        elif kind == "year_below_1":
            value = as_json({**event, "occurred_at": "0001-01-01T01:00:00+05:00"})
        elif kind == "missing_field":
            dropped = rng.choice(list(event)[1:])  # schema_version has its own kinds
            value = as_json({k: v for k, v in event.items() if k != dropped})
        elif kind == "extra_field":
            value = as_json({**event, "extra": 1})
        elif kind == "oversize_text":
            value = as_json(
                {**event, "op": "edited", "revision": 9, "text": "é" * (MAX_TEXT // 2 + 1)}
            )
        elif kind == "invalid_utf8":
            value = as_json(event)[:-2] + b"\xff\xfe}"
        elif kind == "not_json":
            value = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
            value = b"\x00" + value  # never valid JSON
        elif kind == "json_array":
            value = as_json([event])
        elif kind == "missing_key":
            key, value = None, as_json(event)
        elif kind == "wrong_key":
            key, value = b"not-" + key, as_json(event)
        elif kind == "nul_in_text":
            value = as_json({**event, "op": "edited", "revision": 9, "text": "a\x00b"})
        elif kind == "control_in_id":
            value = as_json({**event, "message_id": "m\x07x"})
        elif kind == "empty_text_created":
            value = as_json({**event, "op": "created", "revision": 0, "text": ""})
        elif kind == "naive_instant":
            value = as_json({**event, "created_at": "2026-11-01T09:00:00"})
        else:  # pragma: no cover - POISON_KINDS and the branches are one list
            raise AssertionError(kind)
        return Made(key=key, value=value, valid=False, kind=kind)

    def make(self) -> Made:
        if self.rng.random() < 0.25:
            return self.poison()
        event = self.valid_event()
        return Made(
            key=event["topic_id"].encode(),
            value=json.dumps(event, ensure_ascii=False).encode(),
            valid=True,
            kind="valid",
            event=event,
        )


POISON_KINDS = (
    "revision_as_string",
    "schema_version_bool",
    "schema_version_2",
    "epoch_created_at",
    "duplicate_key",
    "year_above_9999",
    "year_below_1",
    "missing_field",
    "extra_field",
    "oversize_text",
    "invalid_utf8",
    "not_json",
    "json_array",
    "missing_key",
    "wrong_key",
    "nul_in_text",
    "control_in_id",
    "empty_text_created",
    "naive_instant",
)


def _psycopg(url: str, database: str | None = None) -> str:
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    if database is None:
        return plain
    return plain.rsplit("/", 1)[0] + "/" + database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS")
    admin_url = os.environ.get("CARDWRIGHT_DATABASE_URL")
    if not bootstrap or not admin_url:
        print(
            "set CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS and CARDWRIGHT_DATABASE_URL "
            '(eval "$(cardwright stack up)")',
            file=sys.stderr,
        )
        return 2

    name = f"fuzz_{args.seed}_{uuid.uuid4().hex[:8]}"
    topic = f"fuzz.{name}"
    with psycopg.connect(_psycopg(admin_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = admin_url.rsplit("/", 1)[0] + "/" + name
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(30)
    env = {
        **os.environ,
        "CARDWRIGHT_DATABASE_URL": database_url,
        "CARDWRIGHT_EVENTS_TOPIC": topic,
        "CARDWRIGHT_GROUP_ID": name,
        "CARDWRIGHT_DEBOUNCE_MS": "500",
        "CARDWRIGHT_MAX_DELAY_MS": "5000",
        "CARDWRIGHT_LOG_FORMAT": "json",
        "CARDWRIGHT_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "-m", "cardwright", "migrate"], env=env, check=True, capture_output=True
    )

    generator = Generator(args.seed)
    made = [generator.make() for _ in range(args.records)]
    print(
        f"generated {len(made)} records: {Counter(m.kind for m in made).most_common()}", flush=True
    )
    offsets: dict[tuple[int, int], Made] = {}
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "message.max.bytes": 2_000_000,
        }
    )

    def delivered(error: Any, message: Any, item: Made) -> None:
        if error is not None:
            raise SystemExit(f"publish failed: {error}")
        offsets[(message.partition(), message.offset())] = item

    for i, item in enumerate(made):
        while True:
            try:
                producer.produce(
                    topic,
                    key=item.key,
                    value=item.value,
                    on_delivery=functools.partial(delivered, item=item),
                )
                break
            except BufferError:
                producer.poll(0.1)
        if i % 5000 == 0:
            print(f"published {i}", flush=True)
    producer.flush(60)
    print(f"published {len(offsets)} records to {topic}", flush=True)

    started = time.monotonic()
    member = subprocess.run(
        [sys.executable, "-m", "cardwright", "consume", "--until-idle", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CONSUME_TIMEOUT_S,
        check=False,
    )
    consume_s = time.monotonic() - started
    anomalies: list[str] = []
    if member.returncode != 0:
        anomalies.append(f"member exited {member.returncode}: {member.stderr[-2000:]}")

    anomalies += _check(bootstrap, topic, name, database_url, offsets)
    print(
        json.dumps(
            {
                "records": len(made),
                "seed": args.seed,
                "consume_s": round(consume_s, 1),
                "valid": sum(m.valid for m in made),
                "poison": sum(not m.valid for m in made),
                "member_exit": member.returncode,
                "anomalies": len(anomalies),
            }
        )
    )
    for line in anomalies[:50]:
        print("ANOMALY", line)
    return 1 if anomalies else 0


def _check(
    bootstrap: str, topic: str, group: str, database_url: str, offsets: dict[tuple[int, int], Made]
) -> list[str]:
    anomalies: list[str] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group + "-checker",
            "enable.auto.commit": False,
        }
    )
    committed = {
        tp.partition: tp.offset
        for tp in Consumer({"bootstrap.servers": bootstrap, "group.id": group}).committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10
        )
    }
    for p in range(PARTITIONS):
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if committed.get(p, -1) != high:
            anomalies.append(f"partition {p}: committed {committed.get(p)} != end {high}")

    # The DLQ: one copy per poison record, by source partition and offset.
    dlq = topic + ".dlq"
    copies: Counter[tuple[int, int]] = Counter()
    metadata = consumer.list_topics(dlq, timeout=10).topics.get(dlq)
    if metadata is not None and metadata.partitions:
        ends = {}
        for p in metadata.partitions:
            ends[p] = consumer.get_watermark_offsets(TopicPartition(dlq, p), timeout=10)[1]
        consumer.assign([TopicPartition(dlq, p, 0) for p in metadata.partitions])
        remaining = sum(ends.values())
        while remaining > 0:
            message = consumer.poll(5)
            if message is None:
                break
            if message.error():
                continue
            remaining -= 1
            headers = dict(message.headers() or [])
            partition = headers["cardwright.source.partition"]
            offset = headers["cardwright.source.offset"]
            assert partition is not None and offset is not None
            source = (int(partition), int(offset))
            copies[source] += 1
    consumer.close()

    with psycopg.connect(_psycopg(database_url)) as connection:
        stored = {
            (u, m): (rev, eid, text, deleted, created)
            for u, m, rev, eid, text, deleted, created in connection.execute(
                "SELECT user_id, message_id, revision, event_id, text, deleted,"
                # Microseconds since the epoch: an instant PostgreSQL stored outside the years
                # Python can read is then a finding, not a crash of the checker.
                " (extract(epoch FROM created_at) * 1000000)::bigint FROM messages"
            )
        }
        stale_topics = connection.execute(
            "SELECT count(*) FROM topics t WHERE t.cards_state_version IS DISTINCT FROM"
            " t.state_version AND NOT EXISTS (SELECT 1 FROM extract_failures f"
            " WHERE f.user_id = t.user_id AND f.topic_id = t.topic_id)"
            " AND EXISTS (SELECT 1 FROM messages m WHERE m.user_id = t.user_id"
            " AND m.topic_id = t.topic_id AND NOT m.deleted)"
        ).fetchone()
    if stale_topics and stale_topics[0]:
        anomalies.append(f"{stale_topics[0]} topics with live messages whose cards are not current")

    winners: dict[tuple[str, str], dict[str, Any]] = {}
    for source, item in offsets.items():
        n = copies.get(source, 0)
        if not item.valid:
            if n != 1:
                anomalies.append(f"poison {item.kind} at {source}: {n} DLQ copies")
            continue
        if n:
            anomalies.append(f"valid record at {source} diverted to the DLQ ({n} copies)")
            continue
        event = item.event
        assert event is not None
        key = (event["user_id"], event["message_id"])
        best = winners.get(key)
        if best is None or (event["revision"], event["event_id"]) > (
            best["revision"],
            best["event_id"],
        ):
            winners[key] = event
    for key, event in winners.items():
        row = stored.get(key)
        if row is None:
            anomalies.append(f"message {key} lost")
            continue
        rev, eid, text, deleted, created = row
        instant = datetime.fromisoformat(event["created_at"]) - EPOCH
        expected_created = instant // timedelta(microseconds=1)
        if (rev, eid, text, deleted, created) != (
            event["revision"],
            event["event_id"],
            event["text"],
            event["op"] == "deleted",
            expected_created,
        ):
            anomalies.append(
                f"message {key}: stored {(rev, eid, deleted, created)} but the "
                f"winner is {(event['revision'], event['event_id'], event['op'])} "
                f"created {event['created_at']}"
            )
    return anomalies


if __name__ == "__main__":
    sys.exit(main())
