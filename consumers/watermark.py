"""Per-partition commit watermark: the offset that is safe to commit.

Offsets mean "next to read". An event's offset is done when its effect is durable: the event
was written to the DLQ and acknowledged, or persisted and its topic's cards extracted (or found
current). The safe offset is the lowest offset still waiting on a topic, or one past the
highest offset handled when nothing waits. Pure: no Kafka, no database.
"""

from __future__ import annotations

import heapq
from typing import Generic, TypeVar

K = TypeVar("K")


class PartitionWatermark(Generic[K]):
    def __init__(self) -> None:
        self._next: int | None = None  # one past the highest offset handled
        self._first_waiting: dict[K, int] = {}  # topic -> lowest offset waiting on it
        self._heap: list[tuple[int, int, K]] = []  # (offset, seq, topic), lazily cleaned
        self._sequence = 0

    def handled(self, offset: int, waiting_on: K | None) -> None:
        """Offset ``offset`` is persisted; if ``waiting_on`` is set, it waits on that topic."""
        if self._next is None or offset + 1 > self._next:
            self._next = offset + 1
        if waiting_on is not None and waiting_on not in self._first_waiting:
            self._first_waiting[waiting_on] = offset
            self._sequence += 1
            heapq.heappush(self._heap, (offset, self._sequence, waiting_on))

    def release(self, key: K) -> None:
        """``key``'s cards are durable for everything persisted so far."""
        self._first_waiting.pop(key, None)

    def waiting(self) -> set[K]:
        return set(self._first_waiting)

    def safe_offset(self) -> int | None:
        """The offset to commit, or None when nothing has been handled yet."""
        while self._heap:
            offset, _, key = self._heap[0]
            if self._first_waiting.get(key) == offset:
                return offset
            heapq.heappop(self._heap)
        return self._next


P = TypeVar("P")


class Watermarks(Generic[P, K]):
    """The watermarks of every assigned partition, and which partitions wait on which topic.

    A topic normally lives in one partition, but a producer that ignores the key contract can
    spread it; releasing a topic releases it everywhere it waits.
    """

    def __init__(self) -> None:
        self._partitions: dict[P, PartitionWatermark[K]] = {}
        self._waiting_in: dict[K, set[P]] = {}

    def handled(self, partition: P, offset: int, waiting_on: K | None) -> None:
        self._partitions.setdefault(partition, PartitionWatermark()).handled(offset, waiting_on)
        if waiting_on is not None:
            self._waiting_in.setdefault(waiting_on, set()).add(partition)

    def release(self, key: K) -> None:
        for partition in self._waiting_in.pop(key, ()):
            watermark = self._partitions.get(partition)
            if watermark is not None:
                watermark.release(key)

    def partitions_of(self, key: K) -> set[P]:
        """The partitions whose offsets wait on topic ``key``."""
        return set(self._waiting_in.get(key, ()))

    def drop(self, partitions: set[P]) -> set[K]:
        """Forget revoked partitions; returns topics that no longer wait anywhere."""
        orphaned: set[K] = set()
        for partition in partitions:
            watermark = self._partitions.pop(partition, None)
            if watermark is None:
                continue
            for key in watermark.waiting():
                places = self._waiting_in.get(key, set())
                places.discard(partition)
                if not places:
                    self._waiting_in.pop(key, None)
                    orphaned.add(key)
        return orphaned

    def safe_offsets(self) -> dict[P, int]:
        offsets = {}
        for partition, watermark in self._partitions.items():
            safe = watermark.safe_offset()
            if safe is not None:
                offsets[partition] = safe
        return offsets
