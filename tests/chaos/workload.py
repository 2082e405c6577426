"""The seeded workload: a timeline of records to publish, in bursts with quiet gaps.

Many users, conversations and topics; creates, edits, deletes, reverts to an earlier text (the
input going A -> B -> A), duplicates, stale replays of old revisions, stale edits arriving after
deletes, topic ids reused across users, a topic claimed by another conversation, a message moved
to another topic, and every raw poison class. The same seed gives the same records at the same
offsets in time. Pure: nothing here talks to Kafka.

A message only ever moves (bad input) to a topic of the same partition, so the first topic that
names a message is decided by log order alone, as the checker's model assumes.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

from cardwright.producers.partitioner import partition_for
from tests.chaos.events import RAW_POISON, EventFactory, Message

# Topic ids come from a pool shared by all users, so the same id names topics of several users.
TOPIC_POOL = 48
# Random (user, topic) draws before giving up on finding an unused pair.
NEW_TOPIC_TRIES = 200
# Bursts: a few seconds of traffic on a handful of hot topics, then a gap, so that topics are
# mid-debounce at any moment a fault lands and also go quiet long enough to be extracted.
BURST_S = (1.0, 4.0)
GAP_S = (0.3, 5.0)
HOT_TOPICS = (2, 8)
# Action weights; the special classes are rare but each appears early (see ``_required``).
WEIGHTS = {
    "created": 34,
    "new_topic": 7,
    "edited": 20,
    "reverted": 4,
    "deleted": 7,
    "duplicate": 8,
    "stale_replay": 4,
    "stale_edit": 3,
    "conflict": 2,
    "moved": 2,
    "poison": 4,
}
SPECIAL = ("reverted", "duplicate", "stale_replay", "stale_edit", "conflict", "moved")


@dataclass(frozen=True, slots=True)
class Record:
    at_s: float  # seconds after the workload starts
    key: bytes
    value: bytes
    label: str  # what the generator meant; the checker never reads it


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    seed: int
    duration_s: float
    partitions: int
    rate: tuple[float, float] = (15.0, 45.0)  # events per second within a burst
    users: int = 0  # 0: ten, and one more per 15 s beyond 150 s, so long runs keep new topics

    @property
    def user_count(self) -> int:
        return self.users or max(10, math.ceil(self.duration_s / 15))


class Workload:
    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.rng = random.Random(f"workload-{spec.seed}")
        self.factory = EventFactory(self.rng)
        self.messages: list[Message] = []
        self.topics: dict[tuple[str, str], str] = {}  # (user, topic) -> conversation
        self.recent: list[bytes] = []
        self.required = [*SPECIAL, *(f"poison:{r}" for r in RAW_POISON)]
        self.rng.shuffle(self.required)
        self._ids = 0

    def generate(self) -> list[Record]:
        records: list[Record] = []
        t = 0.5
        while t < self.spec.duration_s:
            length = self.rng.uniform(*BURST_S)
            hot = self._hot_topics()
            count = max(1, int(length * self.rng.uniform(*self.spec.rate)))
            for at in sorted(self.rng.uniform(t, t + length) for _ in range(count)):
                if at < self.spec.duration_s:
                    records.extend(self._record(at, hot))
            t += length + self.rng.uniform(*GAP_S)
        return records

    def topic_keys(self) -> list[tuple[str, str]]:
        return sorted(self.topics)

    # --- choosing what happens ----------------------------------------------------------------

    def _hot_topics(self) -> list[tuple[str, str]]:
        wanted = self.rng.randint(*HOT_TOPICS)
        hot = self.rng.sample(sorted(self.topics), min(wanted // 2, len(self.topics)))
        while len(hot) < wanted:
            hot.append(self._new_topic())
        return hot

    def _new_topic(self) -> tuple[str, str]:
        for _ in range(NEW_TOPIC_TRIES):
            user = f"user-{self.rng.randrange(self.spec.user_count)}"
            topic = f"topic-{self.rng.randrange(TOPIC_POOL):02d}"
            if (user, topic) not in self.topics:
                break
        else:  # (nearly) every pair is taken: more traffic for an existing topic instead
            return self.rng.choice(sorted(self.topics))
        mine = sorted({c for (u, _), c in self.topics.items() if u == user})
        if mine and self.rng.random() < 0.6:
            conversation = self.rng.choice(mine)
        else:
            conversation = f"conv-{user}-{len(mine)}"
        self.topics[(user, topic)] = conversation
        return user, topic

    def _record(self, at: float, hot: list[tuple[str, str]]) -> list[Record]:
        label = None
        if self.required and self.messages and self.rng.random() < 0.2:
            label = self.required.pop()
        if label is None:
            label = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            if label == "poison":
                label = f"poison:{self.rng.choice(RAW_POISON)}"
        made = self._make(label, hot)
        if made is None:  # the precondition does not hold yet: create a message instead
            label, made = "created", self._make("created", hot)
        assert made is not None
        key, value = made
        if not label.startswith("poison") and label not in ("conflict", "moved"):
            self.recent = [*self.recent[-200:], value]
        return [Record(at, key, value, label)]

    def _make(self, label: str, hot: list[tuple[str, str]]) -> tuple[bytes, bytes] | None:
        f = self.factory
        live = [m for m in self.messages if not m.deleted and (m.user, m.topic_id) in hot]
        if label in ("created", "new_topic"):
            user, topic = self._new_topic() if label == "new_topic" else self.rng.choice(hot)
            self._ids += 1
            m = f.new_message(user, topic, self.topics[(user, topic)], f"msg-{self._ids}")
            self.messages.append(m)
            return m.topic_id.encode(), f.advance(m, f.text())
        if label == "duplicate":
            value = self.rng.choice(self.recent) if self.recent else None
            return (_key(value), value) if value else None
        if not self.messages:
            return None
        if label in ("edited", "deleted", "reverted"):
            pool = live if label != "reverted" else [m for m in live if len(set(m.texts)) > 1]
            if not pool:
                return None
            m = self.rng.choice(pool)
            text = f.text() if label == "edited" else "" if label == "deleted" else m.texts[-2]
            return m.topic_id.encode(), f.advance(m, text)
        if label == "stale_replay":
            old = [m for m in self.messages if m.revision >= 1]
            m = self.rng.choice(old) if old else None
            return (m.topic_id.encode(), self.rng.choice(m.values[:-1])) if m else None
        if label == "stale_edit":
            gone = [m for m in self.messages if m.deleted and m.revision >= 2]
            m = self.rng.choice(gone) if gone else None
            return (m.topic_id.encode(), f.stale_edit(m)) if m else None
        m = self.rng.choice(self.messages)
        if label == "conflict":
            self._ids += 1
            other = f.new_message(m.user, m.topic_id, f"conv-{m.user}-x", f"msg-{self._ids}")
            return m.topic_id.encode(), f.advance(other, f.text())
        if label == "moved":
            return self._moved(m)
        return f.poison(label.removeprefix("poison:"), m)

    def _moved(self, m: Message) -> tuple[bytes, bytes] | None:
        k = self.spec.partitions
        here = partition_for(m.topic_id.encode(), k)
        targets = [
            t
            for n in range(TOPIC_POOL)
            if (t := f"topic-{n:02d}") != m.topic_id and partition_for(t.encode(), k) == here
        ]
        if not targets:
            return None
        target = self.rng.choice(targets)
        conversation = self.topics.get((m.user, target), m.conversation_id)
        value = self.factory.elsewhere(m, topic_id=target, conversation_id=conversation)
        return target.encode(), value


def _key(value: bytes) -> bytes:
    """The topic id of an event this generator wrote (for re-sending its exact bytes)."""
    return str(json.loads(value)["topic_id"]).encode()
