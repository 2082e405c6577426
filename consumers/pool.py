"""Extraction off the poll thread: a bounded pool of slots whose results come back by a queue.

The poll thread keeps every database step (docs/design.md, "Inside a member"): it reads a topic's
snapshot and source hash, ``submit``s a ``Job``, and later takes the ``Done`` ones from
``finished`` to validate and store them. Only ``extractor.extract(snapshot)`` runs here, in one of
``slots`` slots, each extraction in a daemon thread of its own:

- an extractor named by spec (entry point or factory) runs in a warm child process per slot
  (extractors/isolation.py); the thread waits on it and, past the timeout, kills it and returns,
  so the slot frees and nothing stays behind;
- an extractor instance (tests, embedding) runs in the thread itself. A thread cannot be killed:
  past its timeout ``finished`` reports the job timed out, frees its slot at once and abandons
  the thread (a daemon, so the process can always exit). While an abandoned thread still runs a
  topic, that topic's next attempt fails at once rather than run twice.

A pool never holds two jobs of one topic, nor more than ``capacity``: the member core
(consumers/core.py) asks for neither, and ``submit`` refuses both. An extractor that says it is
``cpu_bound`` gets one slot whatever was asked: in-process threads would only queue on the GIL,
so more cores need more members.

A CPU-bound extractor in child processes (``rules``) extracts a topic in milliseconds, about as
long as the poll thread takes to store the last one and submit the next; so its pool also holds
up to ``QUEUED_CPU_BOUND`` jobs beyond its running one, which a slot's thread starts as soon as
its extraction ends, and the child never waits on the poll thread (``capacity`` = slots + queue;
several extractions then end per turn and are stored in one transaction). A queued job's
snapshot ages only while the one before it runs; a slow extractor (a model) gets no queue, so
its snapshots are read when a slot is free.

``wait`` blocks until a result arrives (or an in-process job's deadline, or a timeout), so a poll
loop with jobs outstanding hands results on at once instead of after a long poll.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cardwright.extractors.base import Extractor, MeteredExtractor
from cardwright.extractors.isolation import IsolatedRunner
from cardwright.schema.cards import TopicKey, TopicSnapshot
from cardwright.schema.errors import ExtractionFailed, ExtractionTimedOut

log = logging.getLogger("cardwright.extraction")

# At close, a slot's thread whose child was just killed returns within milliseconds; this only
# bounds the wait should the machine be very busy. Anything left is a daemon thread.
CLOSE_JOIN_S = 2.0
# Jobs a CPU-bound pool of child processes holds beyond its running one (see above).
QUEUED_CPU_BOUND = 4


@dataclass(frozen=True, slots=True)
class Job:
    """A topic whose cards must be derived: its snapshot and the source hash it was read with."""

    snapshot: TopicSnapshot
    source_hash: str

    @property
    def key(self) -> TopicKey:
        return (self.snapshot.user_id, self.snapshot.topic_id)


@dataclass(frozen=True, slots=True)
class Done:
    """A job's end: the extractor's unchecked result, or why there is none."""

    job: Job
    result: object = None
    failure: ExtractionFailed | None = None  # an ExtractionTimedOut when it overran
    extract_s: float = 0.0


@dataclass(slots=True)
class _Running:
    job: Job
    started: float  # when submitted; a queued job: when its slot's thread takes it
    deadline: float | None  # in-process jobs: when ``finished`` gives up on the thread
    runner: IsolatedRunner | None = None
    thread: threading.Thread | None = None
    # Set by the job's thread before it posts the job to the queue.
    result: object = None
    failure: ExtractionFailed | None = None
    crash: BaseException | None = None  # not a topic's failure: re-raised on the poll thread
    ended: float = 0.0


class ExtractionPool:
    """Runs extractions in at most ``slots`` threads at once, holds at most ``capacity`` jobs,
    never two of one topic."""

    def __init__(
        self,
        extractor: Extractor | str,
        concurrency: int,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        first: IsolatedRunner | None = None
        if isinstance(extractor, str):
            first = IsolatedRunner(extractor)
            self.extractor: Extractor = first.extractor
        else:
            self.extractor = extractor
        self.slots = max(1, concurrency)
        if getattr(self.extractor, "cpu_bound", False) is True and self.slots > 1:
            log.info(
                "extractor %s is CPU-bound: extracting one topic at a time "
                "(CARDWRIGHT_EXTRACT_CONCURRENCY=%d does not apply); run more members for more "
                "cores",
                self.extractor.extractor_id,
                self.slots,
            )
            self.slots = 1
        self._isolated = first is not None
        cpu_bound = getattr(self.extractor, "cpu_bound", False) is True
        self.queue = QUEUED_CPU_BOUND if self._isolated and cpu_bound else 0
        self.capacity = self.slots + self.queue
        # ``_idle``, ``_queued`` and a queued job's runner, started and thread are shared with the
        # slots' threads (a thread takes the next queued job itself): under ``_lock``.
        self._lock = threading.Lock()
        self._queued: deque[_Running] = deque()
        self._closing = False
        self._idle: list[IsolatedRunner] = []
        if first is not None:
            spec = first.spec
            self._idle = [first] + [
                IsolatedRunner(spec, self.extractor) for _ in range(self.slots - 1)
            ]
            # One child starts now, while the member joins its group: the first topics do not
            # wait for an interpreter to start (the other slots start theirs when first used).
            # The last idle runner is the one the first job takes.
            self._idle[-1].warm()
        self._running: dict[TopicKey, _Running] = {}  # submitted, not yet finished (or queued)
        self._posted: queue.SimpleQueue[_Running] = queue.SimpleQueue()
        self._arrived: deque[_Running] = deque()  # taken off the queue by ``wait``
        self._refused: list[Done] = []  # failed at submit, reported by the next ``finished``
        self._abandoned: dict[TopicKey, _Running] = {}  # timed-out threads still running
        self._started = 0

    # --- what the poll thread calls --------------------------------------------------------------

    def free(self) -> int:
        """How many more jobs ``submit`` takes now."""
        return self.capacity - len(self._running)

    def busy(self) -> bool:
        """Jobs are running or results are waiting to be taken."""
        return bool(self._running or self._arrived or self._refused)

    def running(self) -> set[TopicKey]:
        return set(self._running)

    def abandoned(self) -> int:
        """In-process threads given up at their timeout and still running."""
        self._reap_abandoned()
        return len(self._abandoned)

    def submit(self, job: Job) -> None:
        """Start extracting ``job`` in a free slot, or queue it for the next one to free; its
        ``Done`` comes from ``finished``."""
        key = job.key
        if key in self._running:
            raise RuntimeError(f"topic {key} is being extracted already")
        if self.free() <= 0:
            raise RuntimeError(f"no free extraction slot for topic {key}")
        self._reap_abandoned()
        if key in self._abandoned:
            cause = (
                "its previous attempt timed out and is still running (a thread cannot be killed)"
            )
            self._refused.append(Done(job, failure=ExtractionTimedOut(*key, cause)))
            return
        now = self._clock()
        if self._isolated:
            with self._lock:
                if not self._idle:  # every slot runs a job: the first to end takes this one
                    running = _Running(job, now, deadline=None)
                    self._queued.append(running)
                    self._running[key] = running
                    return
                running = _Running(job, now, deadline=None, runner=self._idle.pop())
            target = self._run_isolated
        else:
            running = _Running(job, now, deadline=now + self.timeout_s)
            target = self._run_in_process
        self._started += 1
        thread = threading.Thread(
            target=target, args=(running,), name=f"extract-{self._started}", daemon=True
        )
        running.thread = thread
        self._running[key] = running
        thread.start()

    def wait(self, timeout_s: float) -> None:
        """Block until a result arrives, an in-process job's deadline passes, or ``timeout_s``."""
        if self._arrived or self._refused:
            return
        limit = timeout_s
        deadlines = [r.deadline for r in self._running.values() if r.deadline is not None]
        if deadlines:
            limit = min(limit, min(deadlines) - self._clock())
        with contextlib.suppress(queue.Empty):
            self._arrived.append(self._posted.get(timeout=max(0.0, limit)))

    def finished(self) -> list[Done]:
        """The jobs ended since the last call: done, failed, or timed out (slot freed)."""
        done, self._refused = self._refused, []
        while True:
            try:
                self._arrived.append(self._posted.get_nowait())
            except queue.Empty:
                break
        while self._arrived:
            running = self._arrived.popleft()
            key = running.job.key
            if self._running.get(key) is not running:  # reported as timed out already
                if self._abandoned.get(key) is running:
                    del self._abandoned[key]
                continue
            del self._running[key]
            if running.crash is not None:
                raise running.crash
            done.append(
                Done(running.job, running.result, running.failure, running.ended - running.started)
            )
        now = self._clock()
        for key, running in list(self._running.items()):
            if running.deadline is not None and now >= running.deadline:
                del self._running[key]
                self._abandoned[key] = running
                # The member logs the failure; the count tells an operator what it costs.
                cause = (
                    f"timed out after {self.timeout_s}s; its thread cannot be stopped and is "
                    f"abandoned ({len(self._abandoned)} abandoned, still running; an extractor "
                    "named by CARDWRIGHT_EXTRACTOR runs in a process that is killed instead)"
                )
                failure = ExtractionTimedOut(*key, cause)
                done.append(Done(running.job, failure=failure, extract_s=now - running.started))
        return done

    def call(self, job: Job) -> Done:
        """Extract ``job`` and wait for it (``cardwright reextract``, previews): for a caller
        that uses the pool one job at a time, never next to ``submit``."""
        self.submit(job)
        while True:
            for done in self.finished():
                if done.job is job:
                    return done
            self.wait(self.timeout_s)

    def close(self) -> None:
        """Kill the children of running jobs, let their threads end, stop every child; threads
        of in-process jobs are abandoned (daemons: they do not keep the process alive)."""
        with self._lock:
            self._closing = True  # a slot's thread takes no further queued job
            self._queued.clear()
            running = [job for job in self._running.values() if job.runner is not None]
        for job in running:
            assert job.runner is not None
            job.runner.interrupt()
        for job in running:
            if job.thread is not None:
                job.thread.join(CLOSE_JOIN_S)
        with self._lock:
            runners = {id(r): r for r in [*self._idle, *(job.runner for job in running)] if r}
            self._idle = []
        self._running.clear()
        for runner in runners.values():
            runner.close()

    # --- the slots' threads ----------------------------------------------------------------------

    def _run_isolated(self, running: _Running) -> None:
        """Run ``running`` in its slot's child, then each queued job while there is one."""
        runner = running.runner
        assert runner is not None
        while True:
            try:
                # Bounded: the runner kills its child at the timeout (and a start at its own).
                running.result = runner.run(running.job.snapshot, self.timeout_s)
            except ExtractionFailed as exc:
                running.failure = exc
            except BaseException as exc:  # a wrong install (ConfigurationError) or a bug
                running.crash = exc
            with self._lock:
                self._post(running)
                if self._closing or not self._queued:
                    self._idle.append(runner)
                    return
                running = self._queued.popleft()
                running.runner = runner
                running.thread = threading.current_thread()
                running.started = self._clock()

    def _run_in_process(self, running: _Running) -> None:
        snapshot = running.job.snapshot
        extractor = self.extractor
        try:
            if isinstance(extractor, MeteredExtractor):
                running.result = extractor.extract_metered(snapshot)  # drafts and tokens
            else:
                running.result = extractor.extract(snapshot)
        except ExtractionFailed as exc:  # the extractor's own verdict, with the tokens it spent
            running.failure = exc
        except Exception as exc:  # any extractor bug is this topic's failure, not the member's
            cause = f"{type(exc).__name__}: {exc}"
            running.failure = ExtractionFailed(snapshot.user_id, snapshot.topic_id, cause)
        self._post(running)

    def _post(self, running: _Running) -> None:
        running.ended = self._clock()
        self._posted.put(running)

    def _reap_abandoned(self) -> None:
        for key, running in list(self._abandoned.items()):
            if running.thread is None or not running.thread.is_alive():
                del self._abandoned[key]
