"""Catch-up gating: while a partition reads a backlog, its topics wait for the backlog's end.

A topic whose events arrive from a backlog goes quiet between two batches all the time; if quiet
made it due, a backlog of N topics would cost many more than N extractions (each topic again
whenever its next events were a batch away). So a partition that is more than a batch behind its
end enters catch-up; records read during catch-up are backlog, and their topics are due only at
the maximum delay or when the partition reaches its end (reaching the end counts as quiet: a
replay's tail does not wait a full debounce). docs/design.md, "Inside a member".

Pure: positions and ends are passed in; the core (consumers/core.py) owns the schedule.
"""

from __future__ import annotations

from cardwright.consumers.core_events import Partition, TopicKey


class CatchUp:
    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._position: dict[Partition, int] = {}  # next offset to read, as polled
        self._end: dict[Partition, int] = {}  # high watermark, as last reported
        self._catching_up: set[Partition] = set()
        self._held: dict[Partition, set[TopicKey]] = {}  # topics waiting for the end

    def catching_up(self, partition: Partition) -> bool:
        return partition in self._catching_up

    def polled(self, partition: Partition, first: int, last: int) -> bool:
        """Records ``first``..``last`` of ``partition`` were read; returns whether they are
        backlog (read while catching up). Call ``reached_end`` after."""
        self._enter_if_behind(partition, self._position.get(partition, first))
        self._position[partition] = last + 1
        return partition in self._catching_up

    def end(self, partition: Partition, high: int) -> None:
        self._end[partition] = high
        position = self._position.get(partition)
        if position is not None:
            self._enter_if_behind(partition, position)

    def hold(self, partition: Partition, key: TopicKey) -> None:
        """``key`` waits for ``partition`` to reach its end."""
        self._held.setdefault(partition, set()).add(key)

    def reached_end(self, partition: Partition) -> set[TopicKey]:
        """If ``partition`` has read up to its end, leave catch-up and return the topics that
        waited for it (except those still waiting in another partition's backlog)."""
        end = self._end.get(partition)
        position = self._position.get(partition)
        if partition not in self._catching_up or end is None or position is None:
            return set()
        if position < end:
            return set()
        self._catching_up.discard(partition)
        keys = self._held.pop(partition, set())
        still = set().union(*(self._held.get(p, set()) for p in self._catching_up))
        return keys - still

    def forget(self, partition: Partition) -> None:
        """The partition was revoked, lost or is read again from an earlier offset."""
        self._position.pop(partition, None)
        self._end.pop(partition, None)
        self._catching_up.discard(partition)
        self._held.pop(partition, None)

    def rewound(self, partition: Partition, offset: int) -> None:
        """Reading goes back to ``offset``; the end stays known."""
        self._position[partition] = offset
        self._held.pop(partition, None)
        self._enter_if_behind(partition, offset)

    def _enter_if_behind(self, partition: Partition, position: int) -> None:
        end = self._end.get(partition)
        if end is not None and end - position > self.batch_size:
            self._catching_up.add(partition)
