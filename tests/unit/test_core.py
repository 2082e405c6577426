"""The member core by example: catch-up gating, backpressure, outages, overlapping extraction.

Each test plays one story through tests/unit/core_world.py, which also checks on every command
that no commit passes a record that is not durable and that the memory bounds hold.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cardwright.consumers.core import CoreConfig
from cardwright.consumers.core_events import Pause, Persist, Probe, Resume, Seek
from tests.unit.core_world import TOPIC, World

P0, P1 = (TOPIC, 0), (TOPIC, 1)


BASE = CoreConfig(
    debounce_s=1.0,
    max_delay_s=100.0,
    batch_size=2,
    extract_attempts=3,
    max_in_flight=10,
    max_pending=100,
    max_held=100,
)


def _config(**changes: Any) -> CoreConfig:
    return replace(BASE, **changes)


def _read_in_batches(world: World, seconds_between: float) -> None:
    """Poll one batch at a time, persist it, and let time pass, until the last batch is
    persisted (no tick after it)."""
    while True:
        world.poll(world.config.batch_size)
        world.complete_persist("ok")
        if world.position[P0] == len(world.log[P0]):
            return
        world.tick(seconds_between)


def _complete_all(world: World) -> None:
    for key in sorted(world.ops):
        world.complete_op(key, "new")


def _backlog(world: World, topics: int, rounds: int) -> None:
    for _ in range(rounds):
        for n in range(topics):
            world.produce(0, ("u", f"t{n}"))


def test_a_backlog_of_n_topics_makes_n_runs() -> None:
    """Topics go quiet between batches while a backlog is read; they wait for its end."""
    world = World(_config(), partitions=1)
    _backlog(world, topics=5, rounds=3)
    world.assign({P0})
    world.report_ends()
    _read_in_batches(world, seconds_between=2.0)  # each gap is longer than the debounce
    assert world.extracted() == [], "no topic fires while its partition is catching up"
    world.tick(0.0)
    _complete_all(world)
    world.tick(0.0)
    assert sorted(world.extracted()) == [("u", f"t{n}") for n in range(5)]
    assert world.committed[P0] == 15


def test_reaching_the_end_counts_as_quiet() -> None:
    """The tail of a replay is due as soon as it is read, without a full debounce."""
    world = World(_config(debounce_s=60.0), partitions=1)
    _backlog(world, topics=3, rounds=2)
    world.assign({P0})
    world.report_ends()
    _read_in_batches(world, seconds_between=0.0)
    world.tick(0.0)  # no time has passed: only reaching the end made them due
    assert sorted(world.extracted()) == [("u", "t0"), ("u", "t1"), ("u", "t2")]


def test_a_catching_up_topic_still_fires_at_the_maximum_delay() -> None:
    world = World(_config(max_delay_s=5.0), partitions=1)
    _backlog(world, topics=2, rounds=10)
    world.assign({P0})
    world.report_ends()
    world.poll(2)
    world.complete_persist("ok")
    world.tick(4.9)
    assert world.extracted() == []
    world.tick(0.2)
    assert sorted(world.extracted()) == [("u", "t0"), ("u", "t1")]


def test_a_partition_at_its_end_debounces_as_usual() -> None:
    world = World(_config(), partitions=1)
    world.produce(0, ("u", "t0"))
    world.assign({P0})
    world.report_ends()
    world.poll(2)
    world.complete_persist("ok")
    world.tick(0.5)
    assert world.extracted() == []
    world.tick(0.6)
    assert world.extracted() == [("u", "t0")]


def test_too_many_pending_topics_pause_every_partition_until_low_water() -> None:
    world = World(_config(max_pending=4), partitions=2)
    for n in range(4):
        world.produce(0, ("u", f"t{n}"))
    world.assign({P0})
    world.poll(2)
    world.complete_persist("ok")
    world.poll(2)
    world.complete_persist("ok")
    assert world.core.pending_count() == 4
    assert world.paused == {P0}
    world.assign({P1})
    assert world.paused == {P0, P1}, "a partition assigned under backpressure is paused too"
    world.tick(2.0)
    for key in sorted(world.ops)[:1]:
        world.complete_op(key, "new")
    assert world.paused == {P0, P1}, "three pending is above the low-water mark of two"
    for key in sorted(world.ops)[:1]:
        world.complete_op(key, "new")
    assert world.paused == set()
    assert Resume(frozenset({P0, P1})) in world.issued


def test_records_past_the_held_bound_are_read_again_later() -> None:
    world = World(_config(max_held=3), partitions=1)
    for n in range(5):
        world.produce(0, ("u", f"t{n}"))
    world.assign({P0})
    world.poll(5)
    assert world.core.held_count() == 3  # two being persisted, one waiting
    assert Seek(P0, 3) in world.issued
    assert world.paused == {P0}
    assert world.position[P0] == 3
    world.complete_persist("ok")
    world.complete_persist("ok")
    assert world.paused == set()
    world.poll(5)
    world.complete_persist("ok")
    world.tick(2.0)
    _complete_all(world)
    world.tick(0.0)
    assert world.committed[P0] == 5


def test_an_outage_pauses_partitions_assigned_during_it_and_probes() -> None:
    world = World(_config(), partitions=2)
    world.produce(0, ("u", "t0"))
    world.assign({P0})
    world.poll(2)
    world.complete_persist("down")
    assert world.paused == {P0}
    world.assign({P1})
    assert world.paused == {P0, P1}
    world.tick(0.5)
    assert Probe() not in world.issued, "the first probe waits a second"
    world.tick(0.6)
    assert Probe() in world.issued
    world.complete_probe(up=True)
    assert world.paused == set()
    assert isinstance(world.issued[-2], Persist), "the held batch is persisted again"


def test_a_misconfigured_database_is_probed_with_the_held_work() -> None:
    world = World(_config(), partitions=1)
    world.produce(0, ("u", "t0"))
    world.assign({P0})
    world.poll(2)
    world.complete_persist("misconfigured")
    assert world.core.outage() == "misconfigured"
    world.tick(1.1)
    assert world.persist is not None, "the held batch is the probe"
    assert world.paused == {P0}, "paused until the probe goes through"
    world.complete_persist("misconfigured")
    world.tick(1.1)
    assert world.persist is None, "the second retry waits two seconds"
    world.tick(1.0)
    world.complete_persist("ok")
    assert world.core.outage() is None
    assert world.paused == set()


def test_input_persisted_during_an_extraction_waits_for_the_next_one() -> None:
    world = World(_config(), partitions=1)
    world.produce(0, ("u", "t0"))
    world.assign({P0})
    world.poll(2)
    world.complete_persist("ok")
    world.tick(2.0)
    assert world.extracted() == [("u", "t0")]
    world.produce(0, ("u", "t0"))
    world.poll(2)
    world.complete_persist("ok")  # persisted while the first extraction runs
    world.complete_op(("u", "t0"), "new")
    world.tick(0.0)
    assert world.committed[P0] == 1, "the second event waits on a second run"
    world.tick(2.0)
    assert world.extracted() == [("u", "t0"), ("u", "t0")]
    _complete_all(world)
    world.tick(0.0)
    assert world.committed[P0] == 2


def test_a_missing_topic_row_reads_its_partition_again_from_the_safe_offset() -> None:
    world = World(_config(), partitions=1)
    for key in (("u", "a"), ("u", "b"), ("u", "a")):
        world.produce(0, key)
    world.assign({P0})
    world.poll(3)
    world.complete_persist("ok")
    world.complete_persist("ok")
    world.tick(2.0)
    world.complete_op(("u", "b"), "new")
    world.complete_op(("u", "a"), "missing")
    assert Seek(P0, 0) in world.issued
    assert world.core.pending_count() == 0
    world.drain(poison=set())
    assert world.committed[P0] == 3


def test_a_topic_failing_every_attempt_is_recorded_and_releases_its_offsets() -> None:
    world = World(_config(extract_attempts=2), partitions=1)
    world.produce(0, ("u", "t0"))
    world.assign({P0})
    world.poll(2)
    world.complete_persist("ok")
    world.tick(2.0)
    world.complete_op(("u", "t0"), "failed")
    world.tick(1.0)  # the backoff after a first failure
    world.complete_op(("u", "t0"), "timeout")
    assert world.ops[("u", "t0")].kind == "record"
    world.complete_op(("u", "t0"), "new")
    world.tick(0.0)
    assert world.committed[P0] == 1
    assert world.extracted() == [("u", "t0"), ("u", "t0")]


def test_pause_is_asked_once_per_partition() -> None:
    world = World(_config(max_pending=1), partitions=1)
    world.produce(0, ("u", "t0"))
    world.produce(0, ("u", "t1"))
    world.assign({P0})
    world.poll(2)
    world.complete_persist("ok")
    world.poll(2)
    world.tick(0.0)
    assert [c for c in world.issued if isinstance(c, Pause)] == [Pause(frozenset({P0}))]


def test_a_partition_paused_revoked_and_given_back_is_read_again() -> None:
    """librdkafka keeps the pause flag of a revoked partition: the core must resume a
    partition it is given back, or it is never read again."""
    world = World(_config(), partitions=2)
    world.produce(0, ("u", "t0"))
    world.assign({P0, P1})
    world.poll(2)
    world.complete_persist("down")  # an outage: every partition paused
    assert world.paused == {P0, P1}
    world.revoke({P0})
    world.tick(1.1)
    world.complete_probe(up=True)  # the held batch was P0's: dropped with it
    assert P1 not in world.paused
    world.produce(0, ("u", "t1"))
    world.assign({P0})
    assert P0 not in world.paused, "given back paused: it would never be read again"


def test_a_deferred_topic_waits_until_told_and_counts_no_attempt() -> None:
    """A spent token budget defers extractions (ExtractionDeferred): the topic is extracted
    again when the budget allows, however often it was deferred, and never recorded failed."""
    world = World(_config(extract_attempts=2), partitions=1)
    world.produce(0, ("u", "t0"))
    world.assign({P0})
    world.poll(2)
    world.complete_persist("ok")
    world.tick(2.0)
    for _ in range(3):  # more deferrals than attempts
        world.complete_op(("u", "t0"), "deferred")
        world.tick(30.0)
        assert ("u", "t0") not in world.ops, "extracted before the budget allows"
        world.tick(30.0)
        assert world.ops[("u", "t0")].kind == "extract"
    assert world.committed.get(P0, 0) == 0, "a deferred topic's offset is not committed"
    world.complete_op(("u", "t0"), "new")
    world.tick(0.0)
    assert world.committed[P0] == 1
    assert world.extracted() == [("u", "t0")] * 4
