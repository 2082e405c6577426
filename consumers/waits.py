"""Which offsets wait on which extraction: the member's commit watermarks, by generation.

An offset whose record changed a topic's input waits until the topic's cards are derived from
input that includes it. With extraction overlapping persisting, "the topic was extracted" is not
enough: a run covers only what was persisted before it was started (its snapshot is read after
that). So a topic's waits are kept in generations. Persisting joins the topic's open generation;
``close`` ends it and returns every generation with waits, which that run covers; later input
opens a new generation that only a later run releases.

The per-partition safe offsets come from consumers/watermark.py, keyed by (topic, generation):
``Watermarks.handled`` stays the one place where an offset is recorded with what it waits on.
Pure: no Kafka, no database.
"""

from __future__ import annotations

from cardwright.consumers.core_events import Partition, TopicKey
from cardwright.consumers.watermark import Watermarks

WaitKey = tuple[TopicKey, int]  # (topic, generation)


class TopicWaits:
    def __init__(self) -> None:
        self._marks: Watermarks[Partition, WaitKey] = Watermarks()
        self._current: dict[TopicKey, int] = {}  # the generation new waits join
        self._open: dict[TopicKey, set[int]] = {}  # generations with waits not yet released
        self._next = 0

    def __len__(self) -> int:
        """Topics with offsets waiting on them."""
        return len(self._open)

    def waiting(self, key: TopicKey) -> bool:
        return bool(self._open.get(key))

    def handled(self, partition: Partition, offset: int, key: TopicKey | None) -> None:
        """``offset`` is persisted; with ``key``, it waits on that topic's next run."""
        if key is None:
            self._marks.handled(partition, offset, None)
            return
        generation = self._current.get(key)
        if generation is None:
            generation = self._next
            self._next += 1
            self._current[key] = generation
        self._open.setdefault(key, set()).add(generation)
        self._marks.handled(partition, offset, (key, generation))

    def close(self, key: TopicKey) -> frozenset[int]:
        """A run of ``key`` starts: it covers every generation open now; later input waits on
        a later run."""
        self._current.pop(key, None)
        return frozenset(self._open.get(key, ()))

    def release(self, key: TopicKey, covers: frozenset[int]) -> None:
        """The run that covered ``covers`` made its effect durable."""
        for generation in covers:
            self._marks.release((key, generation))
        remaining = self._open.get(key, set()) - covers
        if remaining:
            self._open[key] = remaining
        else:
            self._open.pop(key, None)

    def forget(self, key: TopicKey) -> None:
        """Stop tracking ``key`` (its offsets are dropped with their partitions)."""
        self._open.pop(key, None)
        self._current.pop(key, None)

    def partitions_of(self, key: TopicKey) -> set[Partition]:
        """The partitions whose offsets wait on ``key``."""
        partitions: set[Partition] = set()
        for generation in self._open.get(key, ()):
            partitions |= self._marks.partitions_of((key, generation))
        return partitions

    def drop(self, partitions: set[Partition]) -> set[TopicKey]:
        """Forget ``partitions``; returns the topics no offset waits on any more."""
        emptied: set[TopicKey] = set()
        for key, generation in self._marks.drop(partitions):
            generations = self._open.get(key)
            if generations is None:
                continue
            generations.discard(generation)
            if not generations:
                self.forget(key)
                emptied.add(key)
        return emptied

    def safe_offsets(self) -> dict[Partition, int]:
        return self._marks.safe_offsets()
