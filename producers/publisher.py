"""The Publisher: message events onto the events topic, idempotent and acknowledged by all replicas.

It wraps one ``confluent_kafka.Producer`` and owns its contract (design, "Flow"): idempotence,
``acks=all``, key = ``topic_id`` in UTF-8, and librdkafka's ``murmur2_random`` partitioner, which is
Java's partitioner (see ``producers.partitioner``) so that producers in any language put a topic in
the same partition. Delivery reports are counted per flush window; :meth:`Publisher.flush` turns
undelivered records into :class:`DeliveryFailed`, a ``KafkaUnavailable`` that carries the counts.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Producer

from cardwright.producers.kafka_config import PropertyValue, client_config, plain
from cardwright.schema.errors import BadInput, ConfigurationError, KafkaUnavailable
from cardwright.schema.events import MessageEvent

# The design requires these; a properties file may not weaken them.
REQUIRED_PROPERTIES: Mapping[str, str] = {
    "enable.idempotence": "true",
    "acks": "all",
    "partitioner": "murmur2_random",
}

# Throughput defaults; a properties file or CARDWRIGHT_KAFKA_* variables may change them.
TUNING_PROPERTIES: Mapping[str, str] = {
    # Wait up to 20 ms for a batch to fill: at thousands of events/s this packs hundreds of
    # records per request, and 20 ms is noise next to the consumer's seconds-long debounce.
    "linger.ms": "20",
    # Up to 1 MiB or 10,000 records per partition batch: events are ~0.3 to 33 KiB of JSON.
    "batch.size": "1048576",
    "batch.num.messages": "10000",
    # JSON compresses 3-5x; lz4 costs little CPU on either side.
    "compression.type": "lz4",
    # Give up on a record after 2 minutes: long enough to ride out a broker restart or a leader
    # election (retries are safe with idempotence), short enough that a dead cluster is reported
    # to the operator instead of hanging a publish run.
    "message.timeout.ms": "120000",
}

# How long produce() waits for delivery reports to free room when the local queue is full.
_BUFFER_FULL_POLL_S = 0.1
# Longest single Producer.flush() call inside Publisher.flush(); short enough to re-check often.
_FLUSH_SLICE_S = 1.0
# Distinct delivery errors kept for the report; enough to explain a failure, bounded in memory.
_MAX_ERRORS_KEPT = 10
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Outcome of the records of one flush window."""

    delivered: int
    failed: int
    undelivered: int  # still queued when the flush timed out
    errors: tuple[str, ...]  # distinct errors, first ones first

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.undelivered == 0


class DeliveryFailed(KafkaUnavailable):
    """Some records were not acknowledged by Kafka; ``stats`` says how many."""

    def __init__(self, stats: DeliveryStats) -> None:
        cause = "; ".join(stats.errors) or "flush timed out"
        super().__init__(
            f"{stats.failed + stats.undelivered} record(s) not delivered "
            f"({stats.failed} failed, {stats.undelivered} still queued): {cause}"
        )
        self.stats = stats


def producer_config(properties: Mapping[str, PropertyValue]) -> dict[str, PropertyValue]:
    """Tuning defaults, then the caller's properties, then the required ones (which must agree)."""
    for key, required in REQUIRED_PROPERTIES.items():
        given = properties.get(key)
        if given is not None and plain(given).lower() != required:
            raise ConfigurationError(
                f"Kafka property {key}={given!r} conflicts with cardwright's {key}={required}"
            )
    return {**TUNING_PROPERTIES, **properties, **REQUIRED_PROPERTIES}


class Publisher:
    """Publishes to one topic; call :meth:`flush` to learn what was delivered."""

    def __init__(self, properties: Mapping[str, PropertyValue], topic: str) -> None:
        self.topic = topic
        self._delivered = 0
        self._failed = 0
        # Counted here rather than with len(Producer), which also counts queued log events.
        self._in_flight = 0
        self._errors: list[str] = []
        # Secrets are unwrapped here, in the dict librdkafka copies and Python then drops.
        config = client_config(producer_config(properties), error_cb=self._on_error)
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            message = exc.args[0].str()
            raise ConfigurationError(f"invalid Kafka producer configuration: {message}") from None

    def publish(self, event: MessageEvent) -> None:
        """Queue one event, keyed by its topic_id."""
        self.publish_raw(event.topic_id.encode("utf-8"), event.to_json_bytes())

    def publish_raw(self, key: bytes | None, value: bytes) -> None:
        """Queue one record as given (no validation), waiting for room if the queue is full."""
        while True:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=self._on_delivery)
                self._in_flight += 1
                break
            except BufferError:
                # The local queue is full: serving delivery reports is what frees room.
                self._producer.poll(_BUFFER_FULL_POLL_S)
            except KafkaException as exc:
                raise _translate(exc.args[0]) from None
        # Serve delivery callbacks that are already due, without waiting.
        self._producer.poll(0)

    def flush(self, timeout: float | None = None) -> DeliveryStats:
        """Wait for delivery reports (at most ``timeout`` s); raise if anything was not delivered.

        The counts cover the records reported since the previous flush. Without a timeout the
        wait is bounded by ``message.timeout.ms``, after which librdkafka reports the record failed.
        """
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            # Flush in slices and watch our own count: Producer.flush() alone also waits for
            # queued log events, which keep coming while a broker is unreachable.
            left = deadline - time.monotonic()
            self._producer.flush(max(0.0, min(left, _FLUSH_SLICE_S)))
            if self._in_flight == 0 or time.monotonic() >= deadline:
                break
        stats = DeliveryStats(
            delivered=self._delivered,
            failed=self._failed,
            undelivered=self._in_flight,
            errors=tuple(self._errors),
        )
        self._delivered = self._failed = 0
        self._errors = []
        if not stats.ok:
            raise DeliveryFailed(stats)
        return stats

    def __len__(self) -> int:
        """Records queued or in flight: not yet reported delivered or failed."""
        return self._in_flight

    def _on_delivery(self, err: KafkaError | None, _msg: object) -> None:
        self._in_flight -= 1
        if err is None:
            self._delivered += 1
            return
        self._failed += 1
        self._remember(err.str())

    def _on_error(self, err: KafkaError) -> None:
        # Client-level errors (all brokers down, authentication) explain later delivery failures.
        self._remember(err.str())

    def _remember(self, error: str) -> None:
        # "failed (after 0ms)" and "failed (after 5ms)" are one error to a reader.
        seen = {_DIGITS.sub("#", e) for e in self._errors}
        if _DIGITS.sub("#", error) not in seen and len(self._errors) < _MAX_ERRORS_KEPT:
            self._errors.append(error)


def _translate(err: KafkaError) -> Exception:
    # librdkafka checks message.max.bytes before queueing; retrying cannot help that record.
    if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        return BadInput("record_too_large", err.str())
    return KafkaUnavailable(f"cannot queue record: {err.str()}")
