"""Knowing when a consumer is done: the group's lag is 0 and the database holds the result.

The runner polls both from outside the consumer processes, as an operator would, so every
system under test (cardwright, the naive consumer, the peer) is timed by the same rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import Engine, text

# Poll often enough that the finish time is within a few percent of a 10-second run.
POLL_INTERVAL_S = 0.1


class Unfinished(RuntimeError):
    """The consumer did not finish in time; carries what was still missing."""


class LagProbe:
    """The group's lag on ``topic``, read with one client kept open between polls."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        metadata = self._consumer.list_topics(topic, timeout=10).topics[topic]
        self._partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]

    def lag(self) -> int:
        committed = self._consumer.committed(self._partitions, timeout=10)
        lag = 0
        for tp in committed:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=10, cached=False
            )
            position = tp.offset if tp.offset >= 0 else low
            lag += max(0, high - position)
        return lag

    def close(self) -> None:
        self._consumer.close()


def cards_current(engine: Engine, expected_topics: int) -> bool:
    """Every expected topic exists and its cards come from its current input."""
    with engine.connect() as connection:
        done = connection.execute(
            text(
                "SELECT count(*) FROM topics WHERE cards_source_hash IS NOT NULL "
                "AND cards_state_version = state_version"
            )
        ).scalar_one()
    return int(done) >= expected_topics


def rows_at_least(engine: Engine, table: str, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        with engine.connect() as connection:
            count = connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()  # noqa: S608
        return int(count) >= expected

    return check


def wait_done(
    bootstrap: str,
    group: str,
    topic: str,
    db_done: Callable[[], bool],
    timeout_s: float,
    alive: Callable[[], bool] = lambda: True,
) -> float:
    """Poll until ``db_done()`` and lag 0; returns the wall time it was first seen done.

    The cheap database check goes first, so the probe adds little load while work is going on.
    """
    probe = LagProbe(bootstrap, group, topic)
    deadline = time.monotonic() + timeout_s
    last_lag = -1
    try:
        while time.monotonic() < deadline:
            if db_done():
                last_lag = probe.lag()
                if last_lag == 0:
                    return time.time()
            if not alive():
                raise Unfinished(f"consumer exited early (lag {last_lag})")
            time.sleep(POLL_INTERVAL_S)
    finally:
        probe.close()
    raise Unfinished(f"not done after {timeout_s:.0f}s (lag {last_lag})")
