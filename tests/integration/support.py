"""Helpers for pipeline tests on real Kafka and PostgreSQL: events, publishing, consumers, state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, select

from cardwright.producers.publisher import Publisher
from cardwright.schema.events import MessageEvent
from cardwright.storage.tables import cards, extract_runs, messages, topics

BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# Debounce for tests: short so tests are quick, long enough that a burst of events published
# together lands in one extraction.
TEST_DEBOUNCE_MS = 300
TEST_MAX_DELAY_MS = 3000
# A consumer run on a local stack finishes in seconds; the margin covers a busy CI machine.
CONSUMER_TIMEOUT_S = 180


def event(
    topic: str,
    message: str,
    text: str,
    *,
    user: str = "u1",
    conversation: str = "c1",
    revision: int = 0,
    minute: int = 0,
    role: str = "user",
) -> MessageEvent:
    op = "created" if revision == 0 else ("deleted" if text == "" else "edited")
    created = BASE_TIME + timedelta(minutes=minute)
    return MessageEvent.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "op": op,
            "message_id": message,
            "conversation_id": conversation,
            "topic_id": topic,
            "user_id": user,
            "role": role,
            "text": text,
            "created_at": created,
            "revision": revision,
            "occurred_at": created + timedelta(seconds=revision),
        }
    )


def publish(bootstrap: str, topic: str, events: Iterable[MessageEvent]) -> int:
    publisher = Publisher({"bootstrap.servers": bootstrap}, topic)
    count = 0
    for e in events:
        publisher.publish(e)
        count += 1
    publisher.flush(30)
    return count


def publish_raw(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> None:
    publisher = Publisher({"bootstrap.servers": bootstrap}, topic)
    for key, value in records:
        publisher.publish_raw(key, value)
    publisher.flush(30)


def consumer_env(
    bootstrap: str, database_url: str, topic: str, group: str, **extra: str
) -> dict[str, str]:
    env = {
        **os.environ,
        "CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CARDWRIGHT_DATABASE_URL": database_url,
        "CARDWRIGHT_EVENTS_TOPIC": topic,
        "CARDWRIGHT_GROUP_ID": group,
        "CARDWRIGHT_DEBOUNCE_MS": str(TEST_DEBOUNCE_MS),
        "CARDWRIGHT_MAX_DELAY_MS": str(TEST_MAX_DELAY_MS),
    }
    env.pop("CARDWRIGHT_FAILPOINT", None)
    env.update(extra)
    return env


def consume_until_idle(
    env: dict[str, str], idle_s: float = 2.0
) -> subprocess.CompletedProcess[str]:
    """Run `cardwright consume --until-idle` to completion; fail loudly if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "cardwright", "consume", "--until-idle", str(idle_s)],
        env=env,
        capture_output=True,
        text=True,
        timeout=CONSUMER_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, (
        f"consumer failed ({result.returncode}):\n{result.stderr[-3000:]}"
    )
    return result


def start_consumer(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cardwright", "consume", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(
    process: subprocess.Popen[str] | subprocess.Popen[bytes],
    sig: int = signal.SIGTERM,
    timeout: float = 60,
) -> str | bytes:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err or ""


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        answer = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in answer if tp.offset >= 0}


# A killed member leaves its group after the session timeout: 10 s for cardwright's classic
# members and for the consumer protocol on the stack's brokers, 45 s on a broker with Kafka's
# default group.consumer.session.timeout.ms.
GROUP_EMPTY_TIMEOUT_S = 90.0


def wait_group_empty(bootstrap: str, group: str, timeout: float = GROUP_EMPTY_TIMEOUT_S) -> None:
    """Until ``group`` has no members (a killed one's session has expired)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def empty() -> bool:
        described = admin.describe_consumer_groups([group])[group].result(timeout=10)
        return not described.members

    assert wait_for(empty, timeout=timeout), f"group {group} still has members"


@dataclass(frozen=True)
class State:
    """Everything a pipeline test compares: messages, topic pointers, runs and cards."""

    messages: frozenset[tuple[object, ...]]
    runs: tuple[tuple[object, ...], ...]
    cards: tuple[tuple[object, ...], ...]
    current: frozenset[tuple[object, ...]]

    def run_keys(self) -> list[tuple[object, ...]]:
        return [r[:3] for r in self.runs]


def read_state(engine: Engine) -> State:
    with engine.connect() as c:
        msgs = c.execute(
            select(
                messages.c.user_id,
                messages.c.message_id,
                messages.c.topic_id,
                messages.c.revision,
                messages.c.text,
                messages.c.deleted,
            )
        ).all()
        runs = c.execute(
            select(
                extract_runs.c.user_id,
                extract_runs.c.topic_id,
                extract_runs.c.source_hash,
                extract_runs.c.extractor_id,
            ).order_by(extract_runs.c.user_id, extract_runs.c.topic_id, extract_runs.c.run_id)
        ).all()
        card_rows = c.execute(
            select(
                cards.c.user_id,
                cards.c.topic_id,
                cards.c.card_id,
                cards.c.position,
                cards.c.kind,
                cards.c.title,
            ).order_by(cards.c.user_id, cards.c.topic_id, cards.c.position)
        ).all()
        current = c.execute(
            select(topics.c.user_id, topics.c.topic_id, topics.c.cards_source_hash)
        ).all()
    return State(
        messages=frozenset(tuple(m) for m in msgs),
        runs=tuple(tuple(r) for r in runs),
        cards=tuple(tuple(r) for r in card_rows),
        current=frozenset(tuple(t) for t in current),
    )


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
