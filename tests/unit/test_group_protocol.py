"""The consumer's group settings for the classic protocol and for KIP-848's consumer protocol."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer

from cardwright.settings import Settings
from cardwright.wiring import SESSION_TIMEOUT_MS, consumer_config

# Set by the member under the classic protocol; under KIP-848 they are the broker's, and
# librdkafka refuses a consumer that sets them.
CLASSIC_ONLY = ("partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms")


def test_classic_is_the_default_with_cooperative_sticky_and_a_short_session() -> None:
    config = consumer_config(Settings(), "g", "i")
    assert "group.protocol" not in config
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
    assert config["session.timeout.ms"] == SESSION_TIMEOUT_MS


def test_the_consumer_protocol_leaves_assignment_and_liveness_to_the_broker() -> None:
    config = consumer_config(Settings(group_protocol="consumer"), "g", "i")
    assert config["group.protocol"] == "consumer"
    assert not set(CLASSIC_ONLY) & set(config)
    assert config["enable.auto.commit"] is False


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_librdkafka_accepts_the_configuration(protocol: str) -> None:
    config = consumer_config(
        Settings(group_protocol=protocol, kafka_bootstrap_servers="127.0.0.1:1"), "g", "i"
    )
    Consumer(config).close()


def test_an_unknown_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from cardwright.schema.errors import ConfigurationError
    from cardwright.settings import load_settings

    monkeypatch.setenv("CARDWRIGHT_GROUP_PROTOCOL", "eager")
    with pytest.raises(ConfigurationError, match="CARDWRIGHT_GROUP_PROTOCOL"):
        load_settings()
