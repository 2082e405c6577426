"""The dead-letter queue: bad records go to ``<events topic>.dlq`` with the reason in headers.

The original key and value bytes are kept untouched, so a fixed record can be replayed. A bad
record's offset counts as done only once ``flush`` has seen the DLQ write acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, Producer

from cardwright.errors import BadInput, KafkaUnavailable

# How long a batch waits for its DLQ writes before the batch is retried: longer than a broker
# leader election (a few seconds), short enough to keep the partition moving.
FLUSH_TIMEOUT_S = 30.0


class SourceRecord(Protocol):
    """The part of a confluent-kafka ``Message`` the DLQ needs (it cannot be built in tests)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


@dataclass(slots=True)
class _Delivery:
    failed: list[str]


class DeadLetters:
    def __init__(self, producer_config: dict[str, Any], topic: str, instance: str) -> None:
        config = {
            **producer_config,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        }
        self._producer = Producer(config)
        self.topic = topic
        self._instance = instance
        self._delivery = _Delivery(failed=[])
        self.sent_by_reason: dict[str, int] = {}

    def send(self, record: SourceRecord, error: BadInput) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            ("cardwright.reason", error.reason.encode()),
            ("cardwright.detail", error.detail[:1000].encode("utf-8", "replace")),
            ("cardwright.source.topic", str(record.topic()).encode()),
            ("cardwright.source.partition", str(record.partition()).encode()),
            ("cardwright.source.offset", str(record.offset()).encode()),
            ("cardwright.consumer", self._instance.encode()),
        ]
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    key=record.key(),
                    value=record.value(),
                    headers=headers,
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                self._producer.poll(0.1)
        self.sent_by_reason[error.reason] = self.sent_by_reason.get(error.reason, 0) + 1

    def flush(self) -> None:
        """Wait for every DLQ write; raise ``KafkaUnavailable`` unless all were acknowledged."""
        remaining = self._producer.flush(FLUSH_TIMEOUT_S)
        failed, self._delivery.failed = self._delivery.failed, []
        if remaining or failed:
            raise KafkaUnavailable(
                f"DLQ writes not acknowledged: {remaining} pending, failures: {failed[:3]}"
            )

    def _on_delivery(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self._delivery.failed.append(str(error))
