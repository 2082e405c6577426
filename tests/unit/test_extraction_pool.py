"""The extraction pool: at most its slots at once, never two of one topic, and a timeout that
frees the slot at once, whether the extractor runs in a child process (killed) or in a thread of
this process (abandoned, a daemon).

No timing is asserted: overlap is shown with a barrier that only opens when every slot's
extraction runs at once; ``pytest.mark.timeout`` only guards against a hang.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardwright.consumers.pool import QUEUED_CPU_BOUND, Done, ExtractionPool, Job
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.schema.errors import ExtractionTimedOut
from tests.unit import isolation_extractors
from tests.unit.test_isolated_extraction import child_pids, on_topic

GUARD_S = 60
TIMEOUT_S = 1.0


def pool_threads() -> int:
    """The pool's threads still alive (named extract-N). Other tests' daemon threads may end
    while one runs, so the process's whole thread count is not a measure of this pool."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("extract-") and t.is_alive())


def job(topic_id: str) -> Job:
    return Job(on_topic(topic_id), source_hash="h")


def collect(pool: ExtractionPool, count: int) -> list[Done]:
    """Wait for ``count`` jobs to end (the guard timeout stops a hang)."""
    done: list[Done] = []
    while len(done) < count:
        pool.wait(1.0)
        done.extend(pool.finished())
    return done


class Fake:
    """An in-process extractor whose behaviour per topic the test chooses: ``hang`` waits until
    released, ``raise`` raises, ``meet`` waits at a barrier for the other slots' extractions."""

    extractor_id = "fake@1"

    def __init__(self, slots: int = 1) -> None:
        self.release = threading.Event()
        self.barrier = threading.Barrier(slots, timeout=GUARD_S / 2)
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        topic = snapshot.topic_id
        with self._lock:
            self.calls[topic] = self.calls.get(topic, 0) + 1
        if topic.startswith("hang"):
            self.release.wait()
        if topic.startswith("raise"):
            raise RuntimeError("extractor exploded")
        if topic.startswith("meet"):
            self.barrier.wait()
        return []


@pytest.fixture
def fake() -> Iterator[Fake]:
    extractor = Fake(slots=4)
    yield extractor
    extractor.release.set()  # the abandoned threads end with the test


@pytest.fixture
def plugged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolation_extractors.register(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.timeout(GUARD_S)
def test_every_slot_extracts_at_once(fake: Fake) -> None:
    pool = ExtractionPool(fake, concurrency=4, timeout_s=GUARD_S)
    for n in range(4):
        pool.submit(job(f"meet{n}"))
    assert pool.free() == 0
    done = collect(pool, 4)  # the barrier opens only if all four run at once
    assert sorted(d.job.key[1] for d in done) == [f"meet{n}" for n in range(4)]
    assert all(d.failure is None and d.result == [] for d in done)
    assert pool.free() == 4 and not pool.busy()


def test_the_pool_refuses_a_second_job_of_a_topic_and_more_jobs_than_slots(fake: Fake) -> None:
    pool = ExtractionPool(fake, concurrency=2, timeout_s=GUARD_S)
    pool.submit(job("hang1"))
    with pytest.raises(RuntimeError, match="being extracted already"):
        pool.submit(job("hang1"))
    pool.submit(job("hang2"))
    with pytest.raises(RuntimeError, match="no free extraction slot"):
        pool.submit(job("other"))
    assert fake.calls.get("other") is None and fake.calls.get("hang1", 0) <= 1


@pytest.mark.timeout(GUARD_S)
def test_an_in_process_timeout_frees_the_slot_and_never_runs_the_topic_twice(fake: Fake) -> None:
    threads = pool_threads()
    pool = ExtractionPool(fake, concurrency=1, timeout_s=TIMEOUT_S)
    pool.submit(job("hang"))
    (timed_out,) = collect(pool, 1)
    assert isinstance(timed_out.failure, ExtractionTimedOut)
    assert timed_out.failure.topic_id == "hang"
    assert pool.free() == 1 and pool.abandoned() == 1
    (abandoned,) = [t for t in threading.enumerate() if t.name.startswith("extract-")]
    assert abandoned.daemon  # it cannot keep the process from exiting

    # The one slot serves the next topic at once.
    pool.submit(job("fine"))
    (fine,) = collect(pool, 1)
    assert fine.failure is None and fine.result == []

    # The same topic again while its abandoned thread still runs: failed, not run twice.
    pool.submit(job("hang"))
    (refused,) = collect(pool, 1)
    assert isinstance(refused.failure, ExtractionTimedOut)
    assert "still running" in refused.failure.cause
    assert fake.calls["hang"] == 1

    fake.release.set()
    abandoned.join(GUARD_S)
    assert pool.abandoned() == 0 and pool.finished() == []  # its late answer is dropped
    assert pool_threads() <= threads
    pool.submit(job("hang"))  # released now: it runs again, and ends
    (again,) = collect(pool, 1)
    assert again.failure is None and fake.calls["hang"] == 2


@pytest.mark.timeout(GUARD_S)
def test_an_extractor_error_fails_its_topic_and_frees_the_slot(fake: Fake) -> None:
    pool = ExtractionPool(fake, concurrency=1, timeout_s=GUARD_S)
    pool.submit(job("raise"))
    (failed,) = collect(pool, 1)
    assert failed.failure is not None and not isinstance(failed.failure, ExtractionTimedOut)
    assert failed.failure.cause == "RuntimeError: extractor exploded"
    assert pool.free() == 1


@pytest.mark.timeout(GUARD_S)
def test_a_child_process_slot_kills_its_hanging_child_and_serves_the_next_topic(
    plugged_in: None,
) -> None:
    threads, children = pool_threads(), child_pids()
    pool = ExtractionPool("test-misbehaving", concurrency=2, timeout_s=TIMEOUT_S)
    try:
        pool.submit(job("sleeps"))
        pool.submit(job("fine"))
        done = {d.job.key[1]: d for d in collect(pool, 2)}
        assert done["fine"].result == RulesExtractor().extract(on_topic("fine"))
        failure = done["sleeps"].failure
        assert isinstance(failure, ExtractionTimedOut) and "killed" in failure.cause
        assert pool.free() == 2
        assert len(child_pids() - children) == 1  # the hanging one is killed and reaped
        assert pool_threads() <= threads  # its thread returned
        pool.submit(job("sleeps-not"))
        (next_one,) = collect(pool, 1)
        assert next_one.failure is None
    finally:
        pool.close()
    assert child_pids() == children


@pytest.mark.timeout(GUARD_S)
def test_close_kills_the_children_of_running_extractions(plugged_in: None) -> None:
    threads, children = pool_threads(), child_pids()
    pool = ExtractionPool("test-misbehaving", concurrency=2, timeout_s=GUARD_S)
    pool.submit(job("sleeps"))
    pool.submit(job("spins"))
    while len(child_pids() - children) < 2:  # both children started and extracting
        pool.wait(0.1)
    pool.close()
    assert child_pids() == children
    assert pool_threads() <= threads


@pytest.mark.timeout(GUARD_S)
def test_a_cpu_bound_child_process_pool_queues_jobs_its_one_slot_runs_in_turn() -> None:
    children = child_pids()
    pool = ExtractionPool("rules", concurrency=4, timeout_s=GUARD_S)
    try:
        assert pool.slots == 1 and pool.capacity == 1 + QUEUED_CPU_BOUND
        topics = [f"t{n}" for n in range(pool.capacity)]
        for topic in topics:
            pool.submit(job(topic))
        assert pool.free() == 0
        with pytest.raises(RuntimeError, match="being extracted already"):
            pool.submit(job(topics[-1]))  # queued counts as being extracted
        with pytest.raises(RuntimeError, match="no free extraction slot"):
            pool.submit(job("one-more"))
        done = collect(pool, len(topics))
        assert sorted(d.job.key[1] for d in done) == topics
        for d in done:
            assert d.failure is None
            assert d.result == RulesExtractor().extract(on_topic(d.job.key[1]))
        assert len(child_pids() - children) == 1  # one child ran them all, one after another
        assert pool.free() == pool.capacity and not pool.busy()
    finally:
        pool.close()
    assert child_pids() == children


@pytest.mark.timeout(GUARD_S)
def test_a_queued_job_waits_for_a_timed_out_one_and_close_drops_the_queue(
    plugged_in: None,
) -> None:
    threads, children = pool_threads(), child_pids()
    pool = ExtractionPool("test-misbehaving-cpu", concurrency=1, timeout_s=TIMEOUT_S)
    assert pool.queue == QUEUED_CPU_BOUND
    try:
        pool.submit(job("sleeps"))
        pool.submit(job("fine"))  # queued behind the hanging one
        done = {d.job.key[1]: d for d in collect(pool, 2)}
        assert isinstance(done["sleeps"].failure, ExtractionTimedOut)
        assert done["fine"].result == RulesExtractor().extract(on_topic("fine"))
    finally:
        pool.close()
    assert child_pids() == children
    pool = ExtractionPool("test-misbehaving-cpu", concurrency=1, timeout_s=GUARD_S)
    pool.submit(job("spins"))
    pool.submit(job("fine"))
    while len(child_pids() - children) < 1:  # the child started and spins
        pool.wait(0.1)
    pool.close()  # kills the spinning child; the queued job never starts
    assert child_pids() == children
    assert pool_threads() <= threads
    assert pool.finished() == []  # nothing is reported after close


def test_an_in_process_or_slow_extractor_gets_no_queue(plugged_in: None) -> None:
    assert ExtractionPool(RulesExtractor(), concurrency=1, timeout_s=GUARD_S).queue == 0
    pool = ExtractionPool("test-misbehaving", concurrency=2, timeout_s=GUARD_S)
    try:
        assert pool.queue == 0 and pool.capacity == 2
    finally:
        pool.close()


def test_a_cpu_bound_extractor_gets_one_slot(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cardwright.extraction"):
        pool = ExtractionPool(RulesExtractor(), concurrency=8, timeout_s=GUARD_S)
    assert pool.slots == 1
    assert "rules@1 is CPU-bound" in caplog.text
    assert ExtractionPool(Fake(), concurrency=8, timeout_s=GUARD_S).slots == 8
