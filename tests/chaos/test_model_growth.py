"""The checker's model of a topic split by partition growth (the add_partitions fault).

After the events topic grows, a topic's newer events land on another partition while its older
ones may still wait: members apply each partition in order, the two in any interleaving.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from cardwright.producers.partitioner import partition_for
from tests.chaos.contract import classify
from tests.chaos.handmade import Log
from tests.chaos.model import build_model
from tests.chaos.oracle_rule import EXTRACTOR_ID as ORACLE
from tests.chaos.workload import Workload, WorkloadSpec


def test_a_split_topic_may_show_any_mix_of_prefixes_and_ends_in_log_order() -> None:
    log = Log()
    one, two = log.message(message="m1"), log.message(message="m2")
    before = [
        log.add(b"t", log.factory.advance(one, "We decided to use PostgreSQL.")),
        log.add(b"t", log.factory.advance(two, "Remember to ask Tom about the budget.")),
    ]
    three = log.message(message="m3")
    after = [
        log.add(b"t", log.factory.advance(one, "We decided to use MySQL after all."), partition=4),
        log.add(b"t", log.factory.advance(two, ""), partition=4),
        log.add(b"t", log.factory.advance(three, "Let's meet Maria in Lisbon."), partition=4),
    ]
    model = build_model(log.records, ORACLE)
    assert model.ambiguities == []
    topic = model.topics[("u", "t")]
    assert topic.split
    final = topic.inputs[topic.final_hash]
    assert [(m.message_id, m.text) for m in final] == [
        ("m1", "We decided to use MySQL after all."),
        ("m3", "Let's meet Maria in Lisbon."),
    ]
    # The newer partition applied before any of the older one: m2's delete makes a tombstone
    # and its older create, applied later, changes nothing.
    newer_first = {tuple((m.message_id, m.text) for m in state) for state in topic.inputs.values()}
    assert (
        ("m1", "We decided to use MySQL after all."),
        ("m3", "Let's meet Maria in Lisbon."),
    ) in newer_first
    assert (("m1", "We decided to use MySQL after all."),) in newer_first
    # At most one state per (prefix of the older, prefix of the newer) pair.
    assert len(topic.inputs) <= (len(before) + 1) * (len(after) + 1)
    # The anchors of the newer partition's records stay in their own partition's numbering.
    assert set(topic.anchors_at) == {(0, o) for o in before} | {(4, o) for o in after}


def test_a_moved_message_in_two_partitions_is_still_ambiguous() -> None:
    log = Log()
    m = log.message(topic="t")
    log.add(b"t", log.factory.advance(m, "We decided to use PostgreSQL."))
    log.add(b"u", log.factory.elsewhere(m, topic_id="u", conversation_id="c"), partition=4)
    assert build_model(log.records, ORACLE).ambiguities


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_a_growing_workload_names_a_moved_message_in_one_partition_before_and_after(
    seed: int,
) -> None:
    # Whenever the growth happens, every record naming a moved message lands in one partition:
    # otherwise which topic claims it first would depend on processing order, not on the log.
    records = Workload(WorkloadSpec(seed, duration_s=90.0, partitions=6, grows=True)).generate()
    partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
    topics: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in records:
        event, _ = classify(record.key, record.value)
        if event is None or record.key is None:
            continue
        message = (event.user_id, event.message_id)
        topics[message].add(event.topic_id)
        partitions[message] |= {partition_for(record.key, 6), partition_for(record.key, 12)}
    moved = [message for message, named in topics.items() if len(named) > 1]
    assert moved, "the workload makes moved messages"
    assert [m for m in moved if len(partitions[m]) > 1] == []
