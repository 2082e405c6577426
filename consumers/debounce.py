"""Per-topic debounce: a pending topic is due once quiet, but never later than a maximum delay.

due_at = min(last_event + debounce, first_pending + max_delay)

Pure: callers pass ``now`` (seconds from a Clock). Failed extractions come back through
``retry_at`` with their own deadline, which the next event does not bring forward.

While its partition reads a backlog, a topic is touched with ``hold``: it goes quiet between
batches all the time, so only the maximum delay counts, and ``fire`` makes it due at once when
the partition catches up (docs/design.md, "Inside a member": catch-up gating).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")


@dataclass(slots=True)
class _Pending:
    first: float
    last: float
    due: float
    attempts: int = 0


class Debouncer(Generic[K]):
    def __init__(self, debounce_s: float, max_delay_s: float) -> None:
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s
        self._pending: dict[K, _Pending] = {}
        # (due, sequence, key); entries whose due no longer matches are skipped lazily.
        self._heap: list[tuple[float, int, K]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def touch(self, key: K, now: float, hold: bool = False) -> None:
        """An event for ``key`` arrived at ``now``; with ``hold``, quiet does not make it due."""
        entry = self._pending.get(key)
        if entry is None:
            entry = _Pending(first=now, last=now, due=0.0)
            self._pending[key] = entry
        elif entry.attempts:
            # A retry backoff is running; new input waits for it (the retry reads it anyway).
            entry.last = now
            return
        entry.last = now
        latest = entry.first + self.max_delay_s
        self._schedule(key, entry, latest if hold else min(now + self.debounce_s, latest))

    def fire(self, key: K, now: float) -> None:
        """Make a pending ``key`` due at ``now`` (its backlog was read), unless it is backing
        off after a failure or is due sooner already."""
        entry = self._pending.get(key)
        if entry is not None and not entry.attempts and entry.due > now:
            self._schedule(key, entry, now)

    def retry_at(self, key: K, when: float) -> int:
        """Keep ``key`` pending after a failed attempt; returns the attempts made so far."""
        entry = self._pending.get(key)
        if entry is None:
            entry = _Pending(first=when, last=when, due=when)
            self._pending[key] = entry
        entry.attempts += 1
        self._schedule(key, entry, when)
        return entry.attempts

    def attempts(self, key: K) -> int:
        entry = self._pending.get(key)
        return entry.attempts if entry else 0

    def pop_due(self, now: float, limit: int | None = None) -> list[K]:
        """Keys due at ``now``, earliest first; they stay pending until ``done`` or ``drop``."""
        due: list[K] = []
        seen: set[K] = set()
        while self._heap and self._heap[0][0] <= now and (limit is None or len(due) < limit):
            when, _, key = heapq.heappop(self._heap)
            entry = self._pending.get(key)
            if entry is None or entry.due != when or key in seen:
                continue
            seen.add(key)
            due.append(key)
            # Not re-armed: the caller reports done (or retry) before the key is due again.
            entry.due = float("inf")
        return due

    def done(self, key: K) -> None:
        self._pending.pop(key, None)

    def drop(self, keys: set[K]) -> None:
        for key in keys:
            self._pending.pop(key, None)

    def reschedule(self, key: K, now: float) -> None:
        """Put a popped key back at ``now`` (e.g. the database was down)."""
        entry = self._pending.get(key)
        if entry is not None:
            self._schedule(key, entry, now)

    def next_due(self) -> float | None:
        while self._heap:
            when, _, key = self._heap[0]
            entry = self._pending.get(key)
            if entry is not None and entry.due == when:
                return when
            heapq.heappop(self._heap)
        return None

    def oldest_pending_since(self) -> float | None:
        return min((e.first for e in self._pending.values()), default=None)

    def _schedule(self, key: K, entry: _Pending, due: float) -> None:
        entry.due = due
        self._sequence += 1
        heapq.heappush(self._heap, (due, self._sequence, key))
