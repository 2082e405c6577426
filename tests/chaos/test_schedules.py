"""The workload and the fault schedule are pure functions of the seed, and cover every class."""

from __future__ import annotations

import itertools
import json

from cardwright.producers.partitioner import partition_for
from tests.chaos.events import RAW_POISON
from tests.chaos.faults import KINDS, estimated_end, schedule
from tests.chaos.workload import SPECIAL, Record, Workload, WorkloadSpec


def generate(
    seed: int, duration: float = 60.0, partitions: int = 6
) -> tuple[Workload, list[Record]]:
    workload = Workload(WorkloadSpec(seed, duration, partitions))
    return workload, workload.generate()


def test_a_seed_reproduces_the_workload_and_another_seed_changes_it() -> None:
    _, first = generate(3)
    _, again = generate(3)
    _, other = generate(4)
    assert first == again
    assert first != other


def test_every_special_event_and_poison_class_appears() -> None:
    _, records = generate(5)
    labels = {r.label for r in records}
    assert set(SPECIAL) <= labels
    assert {f"poison:{reason}" for reason in RAW_POISON} <= labels
    assert {"created", "edited", "deleted"} <= labels


def test_records_come_in_bursts_with_quiet_gaps_inside_the_duration() -> None:
    _, records = generate(6, duration=90.0)
    times = [r.at_s for r in records]
    assert times == sorted(times) and times[0] >= 0 and times[-1] < 90.0
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) > 0.5  # a quiet spell, so topics get extracted between bursts


def test_topic_ids_are_reused_across_users_and_moves_stay_in_their_partition() -> None:
    workload, records = generate(7, duration=90.0)
    users_per_topic: dict[str, set[str]] = {}
    for user, topic in workload.topics:
        users_per_topic.setdefault(topic, set()).add(user)
    assert any(len(users) > 1 for users in users_per_topic.values())
    topic_of: dict[tuple[str, str], str] = {}
    for record in records:
        if record.label.startswith("poison"):
            continue
        event = json.loads(record.value)
        key = (event["user_id"], event["message_id"])
        if record.label == "moved":
            home = topic_of[key]
            assert record.key is not None
            assert partition_for(home.encode(), 6) == partition_for(record.key, 6)
        else:
            topic_of.setdefault(key, event["topic_id"])


def test_the_fault_schedule_has_every_kind_in_order_and_is_reproducible() -> None:
    faults = schedule(9, 250.0)
    assert {f.kind for f in faults} == set(KINDS)
    assert [f.at_s for f in faults] == sorted(f.at_s for f in faults)
    assert faults == schedule(9, 250.0)
    assert faults != schedule(10, 250.0)
    # Beyond the first round, a fault is only scheduled if it fits in the duration.
    assert all(estimated_end([f]) <= 250.0 for f in faults[len(KINDS) :])
    assert len(faults) > len(KINDS)


def test_seed_specs_name_one_seed_a_range_or_a_list() -> None:
    from tests.chaos.run import seeds_from

    assert seeds_from("7") == [7]
    assert seeds_from("1-4") == [1, 2, 3, 4]
    assert seeds_from("3,5,9-10") == [3, 5, 9, 10]


def test_a_long_workload_keeps_finding_new_topics_and_ends() -> None:
    workload, records = generate(8, duration=600.0)
    assert records[-1].at_s > 550
    assert len(workload.topics) > 10 * 48  # more than ten users could hold
