"""The member core's rules hold for any interleaving of what can happen to a member.

Hypothesis drives ``MemberCore`` (through tests/unit/core_world.py, which plays the shell and
checks every command) with any order of polls, produced records, persist and extraction
outcomes (new, stale, missing row, failure, timeout, contention, outage), probes, commit
failures, assignments, revokes, lost partitions and ticks. Checked throughout: (a) no committed
offset passes a record whose effect is not durable; (c) the memory bounds hold; (d) no topic is
extracted twice at once. Checked at the end: (b) once the database and extractor work again,
every pending topic is extracted, recorded as failed, or was dropped with its partition, and
every partition is committed to its end. A second test starts many extractions at once (as a
shell with an extraction pool does) and ends them in any order, with new input meanwhile.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from cardwright.consumers.core import CoreConfig
from cardwright.consumers.core_events import Partition, TopicKey
from tests.unit.core_world import EXTRACT_OUTCOMES, PERSIST_OUTCOMES, TOPIC, World

KEYS: list[TopicKey] = [("u", f"t{n}") for n in range(5)]
PARTITIONS: list[Partition] = [(TOPIC, n) for n in range(3)]
# Small bounds, so that backpressure, catch-up and retries all happen within a few dozen steps.
CONFIG = CoreConfig(
    debounce_s=1.0,
    max_delay_s=5.0,
    batch_size=2,
    extract_attempts=2,
    max_in_flight=2,
    max_pending=3,
    max_held=4,
)

partition_sets = st.sets(st.sampled_from(PARTITIONS), min_size=1)


class MemberMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(CONFIG, partitions=len(PARTITIONS))
        self.poison: set[TopicKey] = set()

    @initialize(
        records=st.lists(
            st.tuples(st.integers(0, 2), st.sampled_from(KEYS), st.booleans()), max_size=16
        ),
        poison=st.sets(st.sampled_from(KEYS), max_size=1),
    )
    def start(self, records: list[tuple[int, TopicKey, bool]], poison: set[TopicKey]) -> None:
        for partition, key, dead in records:
            # Mostly well-formed; a key may land in any partition (a producer that ignores the
            # key contract spreads a topic).
            self.world.produce(partition, key, dead=dead and partition == 0)
        self.poison = poison

    @rule(partition=st.integers(0, 2), key=st.sampled_from(KEYS), dead=st.booleans())
    def produce(self, partition: int, key: TopicKey, dead: bool) -> None:
        self.world.produce(partition, key, dead)

    @rule(partitions=partition_sets)
    def assign(self, partitions: set[Partition]) -> None:
        self.world.assign(partitions)

    @rule(partitions=partition_sets, lost=st.booleans())
    def revoke(self, partitions: set[Partition], lost: bool) -> None:
        self.world.revoke(partitions, lost=lost)

    @rule(per_partition=st.integers(1, 4), leak=st.booleans())
    def poll(self, per_partition: int, leak: bool) -> None:
        self.world.poll(per_partition, leak=leak)

    @rule()
    def report_ends(self) -> None:
        self.world.report_ends()

    @rule(seconds=st.sampled_from([0.0, 0.3, 1.0, 2.5, 6.0, 31.0]))
    def tick(self, seconds: float) -> None:
        self.world.tick(seconds)

    @precondition(lambda self: self.world.persist is not None)
    @rule(outcome=st.sampled_from(PERSIST_OUTCOMES))
    def complete_persist(self, outcome: str) -> None:
        self.world.complete_persist(outcome)

    @precondition(lambda self: bool(self.world.ops))
    @rule(data=st.data(), outcome=st.sampled_from(EXTRACT_OUTCOMES))
    def complete_extraction(self, data: st.DataObject, outcome: str) -> None:
        key = data.draw(st.sampled_from(sorted(self.world.ops)))
        # As the shell's pool answers: whichever extraction ends first, not the oldest first.
        if key != next(iter(self.world.ops)):  # ops are kept in the order they were issued
            event("an extraction ended before an older one")
        self.world.complete_op(key, outcome)

    @precondition(lambda self: self.world.probing)
    @rule(up=st.booleans())
    def complete_probe(self, up: bool) -> None:
        self.world.complete_probe(up)

    @rule()
    def fail_commits(self) -> None:
        self.world.fail_commits()

    @invariant()
    def bounds_hold(self) -> None:
        self.world.check_bounds()
        # Labels for --hypothesis-show-statistics: how often the interesting states occur.
        core = self.world.core
        if core.paused() and core.outage() is None:
            event("backpressure paused the partitions")
        if core.outage() is not None:
            event(f"database {core.outage()}")
        if any(core._catchup.catching_up(p) for p in core.assigned()):
            event("a partition caught up on a backlog")
        if any(op.kind == "record" for op in self.world.ops.values()):
            event("a failure was being recorded")
        if len(self.world.ops) == CONFIG.max_in_flight:
            event("every extraction slot was in use")

    def teardown(self) -> None:
        self.world.drain(self.poison)
        if self.world.failures_recorded:
            event("a topic's failure was recorded")
        if any(c.synchronous for c in self.world.commits):
            event("a revoke committed synchronously")
        assert self.world.core.pending_count() == 0
        assert not self.world.core.in_flight()


MemberMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_member_core = MemberMachine.TestCase


# A member with an extraction pool: many topics due at once, their extractions in flight together
# and ending in any order, with new input for them arriving meanwhile.
POOL_CONFIG = CoreConfig(
    debounce_s=1.0,
    max_delay_s=5.0,
    batch_size=4,
    extract_attempts=2,
    max_in_flight=4,
    max_pending=50,
    max_held=50,
)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(KEYS)), min_size=2, max_size=12),
    script=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(EXTRACT_OUTCOMES),
            st.none() | st.tuples(st.integers(0, 2), st.sampled_from(KEYS)),
            st.sampled_from([0.0, 1.0, 6.0]),
        ),
        max_size=25,
    ),
)
def test_extractions_in_flight_together_may_end_in_any_order(
    records: list[tuple[int, TopicKey]],
    script: list[tuple[int, str, tuple[int, TopicKey] | None, float]],
) -> None:
    world = World(POOL_CONFIG, partitions=len(PARTITIONS))
    world.assign(set(PARTITIONS))
    for partition, key in records:
        world.produce(partition, key)
    world.poll(len(records))
    while world.persist is not None:
        world.complete_persist("ok")
        world.poll(len(records))
    world.report_ends()
    world.tick(6.0)  # every topic due at once: up to max_in_flight extractions start
    if len(world.ops) > 1:
        event("extractions started together")
    for pick, outcome, new_record, seconds in script:
        if world.ops:
            keys = list(world.ops)  # in the order they were issued
            key = keys[pick % len(keys)]
            if key != keys[0]:
                event("an extraction ended before an older one")
            world.complete_op(key, outcome)
        if new_record is not None:  # new input, perhaps for a topic being extracted
            partition, key = new_record
            world.produce(partition, key)
            world.poll(4)
        if world.persist is not None:
            world.complete_persist("ok")
        if world.probing:  # an aborted extraction's outage
            world.complete_probe(up=True)
        world.report_ends()
        world.tick(seconds)
    world.drain(set())  # every command was checked on the way (commits, never two at once)
    assert world.core.pending_count() == 0
    assert not world.core.in_flight()
