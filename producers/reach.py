"""First contact with the Kafka cluster, bounded in time, for commands an operator runs by hand.

librdkafka never gives up on a broker it cannot reach: it reconnects with backoff and each
request waits out its own timeout, so a wrong address or a dead cluster shows as a long hang
(or, before the logs were routed, hundreds of ``%3|...|FAIL|`` lines). ``publish``, ``lag`` and
``replay`` call :func:`require_reachable` first, and a cluster that does not answer becomes one
``KafkaUnavailable`` line naming the address and librdkafka's reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from cardwright.producers.kafka_config import PropertyValue, client_config, plain
from cardwright.schema.errors import ConfigurationError, KafkaUnavailable

# How long the first contact may take. A healthy cluster answers a metadata request in
# milliseconds, and even a distant one behind TLS and SASL within a second or two; past 5 s an
# operator at a terminal is better served by an error naming the cause than by more waiting
# (librdkafka's own connection timeout is 30 s, and it never stops reconnecting).
REACH_TIMEOUT_S = 5.0
# One metadata request per slice, so the client's errors and logs are served in between.
_SLICE_S = 1.0


def require_reachable(
    properties: Mapping[str, PropertyValue], timeout_s: float = REACH_TIMEOUT_S
) -> None:
    """Return once the cluster answers a metadata request; raise ``KafkaUnavailable`` if it
    does not within ``timeout_s``, with the first reason librdkafka gave."""
    bootstrap = plain(properties.get("bootstrap.servers", ""))
    reasons: list[KafkaError] = []  # the client's own errors: refused, unresolvable, auth, ...

    def on_error(error: KafkaError) -> None:
        if not reasons and error.code() != KafkaError._ALL_BROKERS_DOWN:
            reasons.append(error)

    try:
        admin = AdminClient(client_config(properties, error_cb=on_error))
    except KafkaException as exc:
        raise ConfigurationError(f"invalid Kafka configuration: {exc.args[0].str()}") from None
    deadline = time.monotonic() + timeout_s
    failure = "no answer"
    try:
        while time.monotonic() < deadline:
            try:
                admin.list_topics(timeout=max(0.1, min(_SLICE_S, deadline - time.monotonic())))
                return
            except KafkaException as exc:
                failure = str(exc.args[0].str())
            finally:
                admin.poll(0)  # serves error_cb and the log lines held for this client
    finally:
        admin.poll(0)
    reason = str(reasons[0].str()) if reasons else failure
    raise KafkaUnavailable(f"cannot reach Kafka at {bootstrap} within {timeout_s:g} s: {reason}")
