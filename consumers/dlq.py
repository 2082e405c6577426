"""The dead-letter queue: bad records go to ``<events topic>.dlq`` with the reason in headers.

The original key and value bytes are kept untouched, so a fixed record can be replayed. A bad
record's offset counts as done only once ``flush`` has seen the DLQ write acknowledged.

The DLQ never loses a record and never stalls a partition (docs/design.md, "Message event"):
its topic and this producer take the largest events record plus headers
(``producers.topics.dlq_max_message_bytes``); should a broker still refuse a copy as too large,
a truncated copy goes instead, with the original size and sha256 in headers. Copies already
acknowledged are remembered until the batch is done, and copies still in flight until their
delivery report, so a batch retried after a DLQ outage re-sends only the copies that failed:
one copy per record per delivery, even when a flush gave up waiting on a slow broker.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from cardwright.producers.topics import DEFAULT_EVENTS_MAX_MESSAGE_BYTES, dlq_max_message_bytes
from cardwright.schema.errors import BadInput, KafkaUnavailable

log = logging.getLogger("cardwright.consumer")

# How long a batch waits for its DLQ writes before the batch is retried: longer than a broker
# leader election (a few seconds), short enough to keep the partition moving.
FLUSH_TIMEOUT_S = 30.0
# What a truncated copy keeps: enough of the value to see what it was, far below any topic's
# max.message.bytes (Kafka's floor in practice is its 1 MiB default).
TRUNCATED_VALUE_BYTES = 16 * 1024
TRUNCATED_KEY_BYTES = 1024
# Answers meaning "this copy is too large", from librdkafka before sending (produce() raises)
# or from the broker (delivery report); retrying the same bytes cannot help.
_TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})

Source = tuple[str, int, int]  # (topic, partition, offset) of the original record
Headers = list[tuple[str, str | bytes | None]]


class SourceRecord(Protocol):
    """The part of a confluent-kafka ``Message`` the DLQ needs (it cannot be built in tests)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


class DlqProducer(Protocol):
    """The part of confluent-kafka's ``Producer`` the DLQ uses (a fake can fail on demand)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        *,
        headers: Headers = ...,
        on_delivery: Any = ...,
    ) -> None: ...
    def poll(self, timeout: float = ...) -> int: ...
    def flush(self, timeout: float = ...) -> int: ...


@dataclass(frozen=True, slots=True)
class _Copy:
    source: Source
    key: bytes | None
    value: bytes | None
    headers: Headers


class DeadLetters:
    def __init__(
        self,
        producer_config: dict[str, Any],
        topic: str,
        instance: str,
        *,
        max_message_bytes: int = dlq_max_message_bytes(DEFAULT_EVENTS_MAX_MESSAGE_BYTES),
        producer: DlqProducer | None = None,
    ) -> None:
        config = {
            **producer_config,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            # The largest events record plus our headers must pass librdkafka's own check.
            "message.max.bytes": max_message_bytes,
        }
        self._producer: DlqProducer = producer if producer is not None else Producer(config)
        self.topic = topic
        self._instance = instance
        self._failed: list[str] = []
        self._too_large: list[_Copy] = []
        self._acknowledged: set[Source] = set()
        # Produced, no delivery report yet: librdkafka still retries these (delivery.timeout.ms)
        # after a flush stopped waiting, so producing them again would make a second copy.
        self._in_flight: set[Source] = set()
        self.sent_by_reason: dict[str, int] = {}
        self.truncated = 0

    def send(self, record: SourceRecord, error: BadInput) -> None:
        """Queue the copy of ``record``; nothing is sent for a copy acknowledged or in flight."""
        source = (str(record.topic()), int(record.partition() or 0), int(record.offset() or 0))
        if source in self._acknowledged or source in self._in_flight:
            return
        headers: Headers = [
            ("cardwright.reason", error.reason.encode()),
            ("cardwright.detail", error.detail[:1000].encode("utf-8", "replace")),
            ("cardwright.source.topic", source[0].encode()),
            ("cardwright.source.partition", str(source[1]).encode()),
            ("cardwright.source.offset", str(source[2]).encode()),
            ("cardwright.consumer", self._instance.encode()),
        ]
        copy = _Copy(source, record.key(), record.value(), headers)
        try:
            self._produce(copy)
        except KafkaException as exc:
            refusal: KafkaError = exc.args[0]
            if refusal.code() not in _TOO_LARGE:
                raise KafkaUnavailable(f"DLQ write refused: {refusal.str()}") from None
            self._produce_or_unavailable(self._truncated(copy, refusal.str()))
        self.sent_by_reason[error.reason] = self.sent_by_reason.get(error.reason, 0) + 1

    def flush(self) -> None:
        """Wait for every DLQ write; raise ``KafkaUnavailable`` unless all were acknowledged."""
        remaining = self._producer.flush(FLUSH_TIMEOUT_S)
        if self._too_large:
            refused, self._too_large = self._too_large, []
            for copy in refused:
                self._produce_or_unavailable(self._truncated(copy, "broker refused the size"))
            remaining = self._producer.flush(FLUSH_TIMEOUT_S)
        failed, self._failed = self._failed, []
        if remaining or failed:
            raise KafkaUnavailable(
                f"DLQ writes not acknowledged: {remaining} pending, failures: {failed[:3]}"
            )

    def forget_acknowledged(self) -> None:
        """The batch whose copies were acknowledged is done: a later record is new."""
        self._acknowledged.clear()

    def _produce(self, copy: _Copy) -> None:
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    key=copy.key,
                    value=copy.value,
                    headers=copy.headers,
                    on_delivery=partial(self._on_delivery, copy),
                )
                self._in_flight.add(copy.source)
                return
            except BufferError:
                self._producer.poll(0.1)

    def _produce_or_unavailable(self, copy: _Copy) -> None:
        try:
            self._produce(copy)
        except KafkaException as exc:
            self._in_flight.discard(copy.source)  # nothing of it is on its way: send it again
            raise KafkaUnavailable(f"DLQ write refused: {exc.args[0].str()}") from None

    def _truncated(self, copy: _Copy, why: str) -> _Copy:
        value = copy.value or b""
        key = copy.key
        cut = ["value"]
        if key is not None and len(key) > TRUNCATED_KEY_BYTES:
            key = key[:TRUNCATED_KEY_BYTES]
            cut.append("key")
        log.error(
            "DLQ refused the copy of %s as too large (%d bytes: %s); sending a truncated copy",
            copy.source,
            len(value),
            why,
        )
        self.truncated += 1
        headers: Headers = [
            *copy.headers,
            ("cardwright.truncated", ",".join(cut).encode()),
            ("cardwright.original.size", str(len(value)).encode()),
            ("cardwright.original.sha256", hashlib.sha256(value).hexdigest().encode()),
        ]
        return _Copy(copy.source, key, value[:TRUNCATED_VALUE_BYTES], headers)

    def _on_delivery(self, copy: _Copy, error: KafkaError | None, _message: object) -> None:
        if error is None:
            self._in_flight.discard(copy.source)
            self._acknowledged.add(copy.source)
        elif error.code() in _TOO_LARGE and not _is_truncated(copy):
            self._too_large.append(copy)  # still in flight: flush sends it truncated
        else:  # a truncated copy refused again is a failure like any other: no loop
            self._in_flight.discard(copy.source)
            self._failed.append(str(error))


def _is_truncated(copy: _Copy) -> bool:
    return any(name == "cardwright.truncated" for name, _ in copy.headers)
