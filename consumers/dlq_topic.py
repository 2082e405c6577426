"""Reading the DLQ topic for an operator, without ever moving an offset.

The reader assigns partitions directly (it never subscribes, so it never joins a group) and never
commits, so listing, showing or redriving leaves every consumer group where it was. A scan reads
each partition from its start (or from the first record at a time) up to the end offset captured
when the scan began: records dead-lettered meanwhile, including redriven records that fail again,
are left for the next scan, so a scan always ends. ``KafkaException`` becomes the cardwright
error tree here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from cardwright.consumers.dlq_read import DeadLetter, Position
from cardwright.consumers.group_admin import TopicNotFound
from cardwright.producers.kafka_config import PropertyValue, client_config
from cardwright.schema.errors import CardwrightError, ConfigurationError, KafkaUnavailable

# Per metadata or watermark request: a healthy cluster answers in milliseconds; 10 s rides out a
# leader election and still answers an operator whose bootstrap address is wrong.
REQUEST_TIMEOUT_S = 10.0
# A partition that yields nothing for this long while records remain before the captured end is
# reported, rather than waited on forever: the broker is unreachable or the leader is gone.
STALL_TIMEOUT_S = 30.0
# Records per consume() call: large enough to amortise the call, small enough to print promptly.
CONSUME_BATCH = 500
# How long one consume() call waits for a full batch. consume() returns early only once it has
# CONSUME_BATCH records, so this is paid at the end of every partition: short, so a small DLQ
# lists at once; an empty wait just re-checks the fetch position.
CONSUME_WAIT_S = 0.1
# The reader's group id. It is never joined (assign, not subscribe) and never committed to;
# librdkafka still wants one configured for a consumer.
READER_GROUP = "cardwright-dlq-reader"


class RecordNotFound(CardwrightError):
    """No record at a DLQ position (never written, deleted by retention, or past the end)."""

    def __init__(self, topic: str, position: Position, low: int, high: int) -> None:
        held = f"offsets {low}..{high - 1}" if high > low else "no records"
        super().__init__(
            f"no record at {topic} partition {position.partition} offset {position.offset} "
            f"(that partition holds {held})"
        )
        self.position = position


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """The offsets of one partition a scan reads: ``start`` up to, not including, ``end``."""

    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


class DlqReader:
    """Reads one DLQ topic; use as a context manager so the consumer is closed."""

    def __init__(self, properties: Mapping[str, PropertyValue], topic: str) -> None:
        self.topic = topic
        config = client_config(
            properties,
            **{
                "group.id": READER_GROUP,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            },
        )
        try:
            self._consumer = Consumer(config)
        except KafkaException as exc:
            message = exc.args[0].str()
            raise ConfigurationError(f"invalid Kafka consumer configuration: {message}") from None

    def __enter__(self) -> DlqReader:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._consumer.close()

    def partitions(self) -> list[int]:
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=REQUEST_TIMEOUT_S)
        except KafkaException as exc:
            raise _translate(exc, f"reading metadata of {self.topic}") from None
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None:
            code = None if found is None else found.error.code()
            if found is None or code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicNotFound(self.topic)
            raise KafkaUnavailable(f"reading metadata of {self.topic}: {found.error.str()}")
        return sorted(found.partitions)

    def ranges(self, since_ms: int | None = None) -> list[PartitionRange]:
        """Per partition, the offsets to read: from the log start, or from the first record
        stamped at or after ``since_ms``, up to the end offset as of now."""
        ranges = []
        for partition in self.partitions():
            low, high = self._watermarks(partition)
            start = low
            if since_ms is not None:
                start = self._offset_for_time(partition, since_ms, default=high)
            ranges.append(PartitionRange(partition, max(start, low), high))
        return ranges

    def scan(
        self, ranges: list[PartitionRange], advance: Callable[[int], None]
    ) -> Iterator[DeadLetter]:
        """Every record of ``ranges``, partition by partition, in offset order.

        ``advance(n)`` is told how many offsets each step covered, for a progress bar.
        """
        for r in ranges:
            if r.size:
                yield from self._scan_partition(r, advance)

    def read(self, position: Position) -> DeadLetter:
        """The record at ``position``; :class:`RecordNotFound` if there is none."""
        if position.partition not in self.partitions():
            raise RecordNotFound(self.topic, position, 0, 0)
        low, high = self._watermarks(position.partition)
        if not low <= position.offset < high:
            raise RecordNotFound(self.topic, position, low, high)
        wanted = PartitionRange(position.partition, position.offset, position.offset + 1)
        for record in self._scan_partition(wanted, lambda _n: None):
            if record.position == position:
                return record
        raise RecordNotFound(self.topic, position, low, high)

    def _scan_partition(
        self, r: PartitionRange, advance: Callable[[int], None]
    ) -> Iterator[DeadLetter]:
        tp = TopicPartition(self.topic, r.partition, r.start)
        self._consumer.assign([tp])
        try:
            position = r.start
            last_progress = time.monotonic()
            while position < r.end:
                messages = self._consume()
                if not messages:
                    # Offsets may have gaps (aborted transactions, compaction): the fetch
                    # position is the truth about what is left.
                    moved = self._position(r.partition)
                    if moved is not None and moved > position:
                        advance(min(moved, r.end) - position)
                        position = moved
                        last_progress = time.monotonic()
                    elif time.monotonic() - last_progress > STALL_TIMEOUT_S:
                        raise KafkaUnavailable(
                            f"reading {self.topic} partition {r.partition}: nothing received "
                            f"for {STALL_TIMEOUT_S:.0f} s at offset {position} (end {r.end})"
                        )
                    continue
                last_progress = time.monotonic()
                for message in messages:
                    offset = message.offset()
                    if offset is None or offset < position:
                        continue
                    if offset >= r.end:
                        advance(r.end - position)
                        return
                    advance(offset + 1 - position)
                    position = offset + 1
                    yield _dead_letter(message)
        finally:
            self._consumer.unassign()

    def _consume(self) -> list[Message]:
        try:
            messages = self._consumer.consume(CONSUME_BATCH, timeout=CONSUME_WAIT_S)
        except KafkaException as exc:
            raise _translate(exc, f"reading {self.topic}") from None
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                raise KafkaUnavailable(f"reading {self.topic}: {error.str()}")
        return good

    def _position(self, partition: int) -> int | None:
        try:
            [tp] = self._consumer.position([TopicPartition(self.topic, partition)])
        except KafkaException as exc:
            raise _translate(exc, f"reading the position in {self.topic}") from None
        return tp.offset if tp.offset >= 0 else None

    def _watermarks(self, partition: int) -> tuple[int, int]:
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=REQUEST_TIMEOUT_S
            )
        except KafkaException as exc:
            raise _translate(exc, f"reading the offsets of {self.topic}[{partition}]") from None
        return int(low), int(high)

    def _offset_for_time(self, partition: int, timestamp_ms: int, *, default: int) -> int:
        # Kafka answers with the first offset after which every record is at or after the
        # time, so starting there misses no record the time filter would keep.
        try:
            [tp] = self._consumer.offsets_for_times(
                [TopicPartition(self.topic, partition, timestamp_ms)], timeout=REQUEST_TIMEOUT_S
            )
        except KafkaException as exc:
            raise _translate(exc, f"looking up a time in {self.topic}[{partition}]") from None
        return default if tp.offset < 0 else int(tp.offset)


def _dead_letter(message: Message) -> DeadLetter:
    kind, stamp = message.timestamp()
    partition, offset = message.partition(), message.offset()
    assert partition is not None and offset is not None  # a consumed record has both
    return DeadLetter(
        position=Position(partition, offset),
        timestamp_ms=None if kind == TIMESTAMP_NOT_AVAILABLE else stamp,
        key=message.key(),
        value=message.value(),
        headers=_headers(message),
    )


def _headers(message: Message) -> tuple[tuple[str, bytes | None], ...]:
    # A consumed record's headers are (name, bytes) pairs; the client's types also allow the
    # produce-side forms, so normalise text values to bytes.
    raw = message.headers() or ()
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple(
        (name, value.encode() if isinstance(value, str) else value) for name, value in pairs
    )


def _translate(exc: KafkaException, doing: str) -> KafkaUnavailable:
    error = exc.args[0] if exc.args else exc
    text = error.str() if isinstance(error, KafkaError) else str(error)
    return KafkaUnavailable(f"{doing}: {text}")
