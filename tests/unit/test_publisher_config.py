"""Publisher configuration and failure reporting, with a real librdkafka and no broker."""

from __future__ import annotations

import socket

import pytest

from cardwright.producers.publisher import (
    REQUIRED_PROPERTIES,
    DeliveryFailed,
    Publisher,
    producer_config,
)
from cardwright.schema.errors import BadInput, ConfigurationError, KafkaUnavailable


def closed_port() -> str:
    """An address nothing listens on: bind a port, then release it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_the_contract_properties_are_always_set() -> None:
    config = producer_config({"bootstrap.servers": "b:1", "linger.ms": "5"})
    assert config["enable.idempotence"] == "true"
    assert config["acks"] == "all"
    assert config["partitioner"] == "murmur2_random"
    assert config["linger.ms"] == "5"  # tuning stays overridable


@pytest.mark.parametrize("key", sorted(REQUIRED_PROPERTIES))
def test_a_conflicting_contract_property_is_refused(key: str) -> None:
    with pytest.raises(ConfigurationError, match=key):
        producer_config({key: "something-else"})


def test_unknown_librdkafka_property_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"no\.such\.property"):
        Publisher({"bootstrap.servers": closed_port(), "no.such.property": "x"}, "t")


def test_librdkafka_accepts_the_tuned_configuration() -> None:
    publisher = Publisher({"bootstrap.servers": closed_port()}, "t")
    assert len(publisher) == 0
    assert publisher.flush(0).ok


def test_records_nobody_acknowledged_make_flush_raise_with_counts() -> None:
    publisher = Publisher(
        {"bootstrap.servers": closed_port(), "message.timeout.ms": "300", "log_level": "0"}, "t"
    )
    publisher.publish_raw(b"k", b"v")
    publisher.publish_raw(None, b"w")
    with pytest.raises(DeliveryFailed) as caught:
        publisher.flush(10)
    assert isinstance(caught.value, KafkaUnavailable)
    stats = caught.value.stats
    assert (stats.delivered, stats.failed, stats.undelivered) == (0, 2, 0)
    assert stats.errors
    # The window was reset: nothing new is pending.
    assert publisher.flush(0).ok


def test_a_record_larger_than_message_max_bytes_is_bad_input() -> None:
    publisher = Publisher(
        {"bootstrap.servers": closed_port(), "message.max.bytes": "1000", "log_level": "0"}, "t"
    )
    with pytest.raises(BadInput) as caught:
        publisher.publish_raw(b"k", b"x" * 5000)
    assert caught.value.reason == "record_too_large"
