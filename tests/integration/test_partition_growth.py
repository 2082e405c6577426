"""Growing the events topic from P to 2P partitions while the group runs (docs/operations.md,
"Adding partitions"): the operator adds partitions and does nothing else.

After the growth about half the topics hash to a new partition, so a topic's new events land on
one partition while its old ones may still wait, unprocessed, on another, and two members may
extract the same topic at once. Persisting is order-independent (the highest revision wins) and
the replace is fenced by state_version (docs/design.md, "Invariants"), so the cards still
converge to the model of all events. Run under both group protocols: the classic one notices
new partitions at a metadata refresh, KIP-848's broker on its own.
"""

from __future__ import annotations

import random
import signal

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions

from cardwright.producers.partitioner import partition_for
from cardwright.producers.publisher import Publisher
from cardwright.schema.events import MessageEvent
from tests.conftest import TEST_TOPIC_PARTITIONS
from tests.integration.conftest import Pipeline
from tests.integration.support import event, read_state, start_consumer, stop, wait_for
from tests.integration.workload import SENTENCES, expected_cards, expected_hashes

pytestmark = pytest.mark.slow

GROWN = 2 * TEST_TOPIC_PARTITIONS
TOPICS = 16
# librdkafka looks for new partitions every topic.metadata.refresh.interval.ms (5 min by
# default); the test shortens it so the classic group sees the growth within seconds.
REFRESH_MS = "1000"
CONVERGE_TIMEOUT_S = 180.0


def _event(t: int, message: str, text: str, minute: int, revision: int = 0) -> MessageEvent:
    return event(
        f"grow-{t}",
        f"grow-{t}-{message}",
        text,
        user=f"user-{t % 3}",
        conversation=f"conv-{t}",
        minute=minute,
        revision=revision,
    )


def _events(rng: random.Random, revision: int) -> list[MessageEvent]:
    """Revision 0: three messages per topic; later: an edit, a deletion and a new message."""
    out: list[MessageEvent] = []
    for t in range(TOPICS):
        if revision == 0:
            out += [_event(t, f"m{m}", rng.choice(SENTENCES), m) for m in range(3)]
        else:
            out.append(_event(t, "m0", f"{rng.choice(SENTENCES)} (edited)", 0, revision))
            out.append(_event(t, "m1", "", 1, revision))
            out.append(_event(t, f"n{revision}", rng.choice(SENTENCES), 9))
    return out


def _publish(bootstrap: str, topic: str, events: list[MessageEvent]) -> None:
    publisher = Publisher(
        {"bootstrap.servers": bootstrap, "topic.metadata.refresh.interval.ms": REFRESH_MS}, topic
    )
    for e in events:
        publisher.publish(e)
    stats = publisher.flush(30)
    assert stats.failed == 0 and stats.undelivered == 0


def _partitions(admin: AdminClient, topic: str) -> int:
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_cards_converge_when_the_events_topic_doubles_its_partitions_mid_run(
    pipeline: Pipeline, protocol: str
) -> None:
    moved = [
        t
        for t in range(TOPICS)
        if partition_for(f"grow-{t}".encode(), TEST_TOPIC_PARTITIONS)
        != partition_for(f"grow-{t}".encode(), GROWN)
    ]
    assert moved, "no topic changes partition: the test would not test the growth"
    rng = random.Random(7)
    before = _events(rng, revision=0)
    after = _events(rng, revision=1)
    env = pipeline.env(
        CARDWRIGHT_GROUP_PROTOCOL=protocol,
        CARDWRIGHT_KAFKA_TOPIC_METADATA_REFRESH_INTERVAL_MS=REFRESH_MS,
    )
    admin = AdminClient({"bootstrap.servers": pipeline.bootstrap})

    # A member is working through the old partitions when they double. Its long debounce keeps
    # the old events' topics pending (persisted, not yet extracted) while the moved topics' new
    # events arrive on new partitions, which the second member may own: both then extract the
    # same topic, and the fence decides whose cards stay.
    first = start_consumer(
        env | {"CARDWRIGHT_DEBOUNCE_MS": "4000", "CARDWRIGHT_MAX_DELAY_MS": "8000"}
    )
    _publish(pipeline.bootstrap, pipeline.topic, before)
    try:
        admin.create_partitions([NewPartitions(pipeline.topic, GROWN)])[pipeline.topic].result(
            timeout=30
        )
        wait_for(lambda: _partitions(admin, pipeline.topic) == GROWN, timeout=30)
        # The moved topics' new events land on the new partitions, and a second member joins.
        _publish(pipeline.bootstrap, pipeline.topic, after)
        second = start_consumer(env)
        try:
            events = before + after
            hashes = expected_hashes(events)

            def converged() -> bool:
                state = read_state(pipeline.engine)
                return {(u, t): h for (u, t, h) in state.current} == hashes

            # Converged includes the moved topics' new messages: the new partitions were read
            # from their start (auto.offset.reset=earliest), not from their end.
            wait_for(converged, timeout=CONVERGE_TIMEOUT_S, interval=1.0)
        finally:
            errors = stop(second, signal.SIGTERM)
        assert second.returncode == 0, errors
    finally:
        errors = stop(first, signal.SIGTERM)
    assert first.returncode == 0, errors

    state = read_state(pipeline.engine)
    got: dict[tuple[object, object], list[tuple[object, object]]] = {}
    for user, topic, _card_id, _pos, kind, title in state.cards:
        got.setdefault((user, topic), []).append((kind, title))
    assert got == {k: v for k, v in expected_cards(events).items() if v}
    keys = state.run_keys()
    assert len(keys) == len(set(keys)), "duplicate runs"
