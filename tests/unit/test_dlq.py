"""The DLQ producer: a copy too large goes truncated, and a retried batch re-sends only the
copies that were not acknowledged.

confluent-kafka's Producer cannot be made to fail for some records of one flush and not others
on a real broker, so these tests drive ``DeadLetters`` with a fake producer; the integration
tests (test_dead_letters.py) run it on Kafka.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from cardwright.consumers.dlq import TRUNCATED_VALUE_BYTES, DeadLetters
from cardwright.schema.errors import BadInput, KafkaUnavailable


@dataclass
class Record:
    """Stands in for a confluent ``Message`` (which cannot be built in Python)."""

    _offset: int
    _value: bytes = b"{not json"
    _key: bytes | None = b"topic-1"

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value


@dataclass
class Sent:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


@dataclass
class FakeProducer:
    """Acknowledges each copy at flush unless ``fate`` returns an error code for it; a copy
    larger than ``limit`` raises at produce(), as librdkafka does past message.max.bytes."""

    fate: Callable[[Sent], int | None] = lambda _sent: None
    limit: int = 1 << 30
    # Copies a slow broker has not answered yet: flush returns without their delivery report,
    # counting them as still queued, as librdkafka's flush does at its timeout.
    slow: Callable[[Sent], bool] = lambda _sent: False
    sent: list[Sent] = field(default_factory=list)
    produced: list[Sent] = field(default_factory=list)
    _queued: list[tuple[Sent, Any]] = field(default_factory=list)

    def produce(self, topic: str, value: Any = None, key: Any = None, **kw: Any) -> None:
        if value is not None and len(value) > self.limit:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        sent = Sent(key, value, dict(kw["headers"]))
        self.produced.append(sent)
        self._queued.append((sent, kw["on_delivery"]))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        queued = self._queued
        self._queued = [(sent, on_delivery) for sent, on_delivery in queued if self.slow(sent)]
        for sent, on_delivery in queued:
            if self.slow(sent):
                continue
            code = self.fate(sent)
            if code is None:
                self.sent.append(sent)
            on_delivery(None if code is None else KafkaError(code), None)
        return len(self._queued)


def dead_letters(producer: FakeProducer) -> DeadLetters:
    return DeadLetters({}, "events.dlq", "member-1", producer=producer)


def offsets(sent: list[Sent]) -> list[int]:
    return [int(s.headers["cardwright.source.offset"]) for s in sent]


def timing_out(down_for: set[int]) -> Callable[[Sent], int | None]:
    """A fate that times out the copies of the offsets in ``down_for`` (read at each flush)."""

    def fate(sent: Sent) -> int | None:
        down = int(sent.headers["cardwright.source.offset"]) in down_for
        return KafkaError._MSG_TIMED_OUT if down else None

    return fate


def test_a_retried_batch_resends_only_the_copies_not_acknowledged() -> None:
    broker_down_for = {1}  # offset 1's copy times out the first time
    producer = FakeProducer(fate=timing_out(broker_down_for))
    dlq = dead_letters(producer)
    batch = [Record(0), Record(1), Record(2)]
    bad = BadInput("invalid_json", "truncated")
    for record in batch:
        dlq.send(record, bad)
    with pytest.raises(KafkaUnavailable):
        dlq.flush()
    assert offsets(producer.sent) == [0, 2]

    broker_down_for.clear()
    for record in batch:  # the worker retries the whole batch
        dlq.send(record, bad)
    dlq.flush()
    assert offsets(producer.sent) == [0, 2, 1]  # no copy twice

    dlq.forget_acknowledged()  # batch done; a replayed record later is a new copy
    dlq.send(Record(0), bad)
    dlq.flush()
    assert offsets(producer.sent) == [0, 2, 1, 0]


def test_a_copy_still_in_flight_when_flush_gives_up_is_not_produced_again() -> None:
    # Chaos seed 58: the flush stopped waiting after 30 s with two copies unanswered, the batch
    # was retried, and both copies were produced again; librdkafka delivered all four.
    unanswered = {1}
    producer = FakeProducer(slow=lambda s: int(s.headers["cardwright.source.offset"]) in unanswered)
    dlq = dead_letters(producer)
    batch = [Record(0), Record(1), Record(2)]
    bad = BadInput("invalid_json", "truncated")
    for record in batch:
        dlq.send(record, bad)
    with pytest.raises(KafkaUnavailable, match="1 pending"):
        dlq.flush()

    for record in batch:  # the worker retries the whole batch while the copy is on its way
        dlq.send(record, bad)
    with pytest.raises(KafkaUnavailable, match="1 pending"):
        dlq.flush()
    unanswered.clear()  # the broker answers at last
    for record in batch:
        dlq.send(record, bad)
    dlq.flush()
    assert sorted(offsets(producer.produced)) == [0, 1, 2]
    assert sorted(offsets(producer.sent)) == [0, 1, 2]


def test_a_copy_whose_delivery_failed_is_produced_again_on_the_retry() -> None:
    failing = {1}
    producer = FakeProducer(fate=timing_out(failing))
    dlq = dead_letters(producer)
    bad = BadInput("invalid_json", "truncated")
    dlq.send(Record(1), bad)
    with pytest.raises(KafkaUnavailable):
        dlq.flush()
    failing.clear()
    dlq.send(Record(1), bad)
    dlq.flush()
    assert offsets(producer.produced) == [1, 1]
    assert offsets(producer.sent) == [1]


def test_a_copy_librdkafka_refuses_as_too_large_goes_truncated_with_size_and_hash() -> None:
    value = b"x" * 100_000
    producer = FakeProducer(limit=50_000)
    dlq = dead_letters(producer)
    dlq.send(Record(7, value), BadInput("invalid_json", "too big to parse"))
    dlq.flush()
    [copy] = producer.sent
    assert copy.value == value[:TRUNCATED_VALUE_BYTES]
    assert copy.headers["cardwright.original.size"] == b"100000"
    assert copy.headers["cardwright.original.sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert copy.headers["cardwright.reason"] == b"invalid_json"
    assert copy.key == b"topic-1"


def test_a_copy_the_broker_refuses_as_too_large_goes_truncated_at_flush() -> None:
    value = b"y" * 60_000
    producer = FakeProducer(
        fate=lambda s: KafkaError.MSG_SIZE_TOO_LARGE if len(s.value or b"") > 50_000 else None
    )
    dlq = dead_letters(producer)
    dlq.send(Record(3, value), BadInput("invalid_json", "x"))
    dlq.send(Record(4), BadInput("invalid_json", "x"))
    dlq.flush()
    assert sorted(offsets(producer.sent)) == [3, 4]
    truncated = [s for s in producer.sent if "cardwright.truncated" in s.headers]
    assert [s.headers["cardwright.original.size"] for s in truncated] == [b"60000"]
    assert dlq.truncated == 1


def test_a_truncated_copy_refused_again_is_retried_not_looped() -> None:
    producer = FakeProducer(fate=lambda _s: KafkaError.MSG_SIZE_TOO_LARGE)
    dlq = dead_letters(producer)
    dlq.send(Record(5), BadInput("invalid_json", "x"))
    with pytest.raises(KafkaUnavailable):
        dlq.flush()
    assert producer.sent == []
