"""The seeded workload: a timeline of records to publish, in bursts with quiet gaps.

Many users, conversations and topics; creates, edits (some skipping revisions, some changing
created_at), deletes, undeletes (an edit above a delete), reverts to an earlier text (the input
going A -> B -> A), same-revision twins (two events, one revision, other event_ids and texts),
collation ties (a message created at the instant of another of its topic, the two ids ordered
one way by code point and the other way by a locale collation), topics first seen as a delete,
texts of up to 32 KiB of multi-byte characters, duplicates, stale replays of old revisions, stale
edits arriving after deletes, topic, conversation and message ids reused across users (message
ids count per user; some ids are not ASCII), a topic claimed by another conversation, a message
moved to another topic, and every raw poison class (among them records without a key,
out-of-range instants, loose JSON types and duplicate JSON keys). The
same seed gives the same records at the same offsets in time. Pure: nothing here talks to Kafka.

A message only ever moves (bad input) to a topic of the same partition, so the first topic that
names a message is decided by log order alone, as the checker's model assumes.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass

from cardwright.producers.partitioner import partition_for
from tests.chaos.events import AT_LIMIT_BYTES, RAW_POISON, EventFactory, Message

# Topic ids come from a pool shared by all users, so the same id names topics of several users;
# some are not ASCII.
TOPIC_POOL = 48
TOPIC_IDS = tuple(
    f"{('thème-', '話題-', '🧵-')[n % 3]}{n:02d}" if n % 8 == 5 else f"topic-{n:02d}"
    for n in range(TOPIC_POOL)
)
# Conversation ids are shared by all users too.
CONVERSATION_POOL = 30
# Message ids count per user, behind one of these prefixes: ids that tie on created_at are
# ordered by code point, which no locale collation follows (case, accents, U+FF5E before emoji).
ID_PREFIXES = ("msg-", "Msg-", "ñ-", "～", "💬", "z-")
# A collation tie: a new message created at the same instant as a live one of its topic, with an
# id that code point order puts on one side of the other's and a locale collation (ICU en-US,
# the chaos databases' default) on the other: case first ("Z-" < "m" by code point, "m" < "z"
# by collation), accents ("o-" < "ñ-" against "ñ" < "o"), symbols ("a-" < "～", "💬" before
# letters). By the other id's first character; symbols and emoji take "a-".
TIE_PREFIX = {
    "M": "a-",
    "Z": "a-",
    "m": "Z-",
    "a": "Z-",
    "o": "Z-",
    "ñ": "o-",
    "z": "Ä-",
    "Ä": "Z-",
}
# Random (user, topic) draws before giving up on finding an unused pair.
NEW_TOPIC_TRIES = 200
# Bursts: a few seconds of traffic on a handful of hot topics, then a gap, so that topics are
# mid-debounce at any moment a fault lands and also go quiet long enough to be extracted.
BURST_S = (1.0, 4.0)
GAP_S = (0.3, 5.0)
HOT_TOPICS = (2, 8)
# Action weights; the special classes are rare but each appears early (see ``_required``).
WEIGHTS = {
    "created": 32,
    "new_topic": 7,
    "edited": 16,
    "edited_gap": 3,
    "edited_created_at": 3,
    "reverted": 4,
    "deleted": 7,
    "undeleted": 2,
    "twin": 3,
    "collation_tie": 3,
    "first_delete": 1,
    "big": 1,
    "duplicate": 8,
    "stale_replay": 4,
    "stale_edit": 3,
    "conflict": 2,
    "moved": 2,
    "poison": 5,
}
SPECIAL = (
    "edited_gap",
    "edited_created_at",
    "reverted",
    "undeleted",
    "twin",
    "collation_tie",
    "first_delete",
    "big",
    "duplicate",
    "stale_replay",
    "stale_edit",
    "conflict",
    "moved",
)


@dataclass(frozen=True, slots=True)
class Record:
    at_s: float  # seconds after the workload starts
    key: bytes | None
    value: bytes
    label: str  # what the generator meant; the checker never reads it


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    seed: int
    duration_s: float
    partitions: int
    rate: tuple[float, float] = (15.0, 45.0)  # events per second within a burst
    users: int = 0  # 0: ten, and one more per 15 s beyond 150 s, so long runs keep new topics
    # The run may double the partitions (add_partitions): a moved message is then only made
    # between topics that stay in one partition under both counts, so every event naming it is
    # in one partition and its claim is still decided by log order.
    grows: bool = False

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
        self._ids: Counter[str] = Counter()  # per user

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
            topic = self.rng.choice(TOPIC_IDS)
            if (user, topic) not in self.topics:
                break
        else:  # (nearly) every pair is taken: more traffic for an existing topic instead
            return self.rng.choice(sorted(self.topics))
        mine = sorted({c for (u, _), c in self.topics.items() if u == user})
        if mine and self.rng.random() < 0.6:
            conversation = self.rng.choice(mine)
        else:
            conversation = f"conv-{self.rng.randrange(CONVERSATION_POOL)}"
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
        if (
            key is not None
            and not label.startswith("poison")
            and label not in ("conflict", "moved")
        ):
            self.recent = [*self.recent[-200:], value]
        return [Record(at, key, value, label)]

    def _message_id(self, user: str) -> str:
        self._ids[user] += 1
        return f"{self.rng.choice(ID_PREFIXES)}{self._ids[user]}"

    def _make(self, label: str, hot: list[tuple[str, str]]) -> tuple[bytes | None, bytes] | None:
        f = self.factory
        live = [m for m in self.messages if not m.deleted and (m.user, m.topic_id) in hot]
        if label in ("created", "new_topic", "first_delete"):
            user, topic = self._new_topic() if label != "created" else self.rng.choice(hot)
            m = f.new_message(user, topic, self.topics[(user, topic)], self._message_id(user))
            self.messages.append(m)
            value = f.first_delete(m) if label == "first_delete" else f.advance(m, f.text())
            return m.topic_id.encode(), value
        if label == "collation_tie":
            if not live:
                return None
            other = self.rng.choice(live)
            self._ids[other.user] += 1
            prefix = TIE_PREFIX.get(other.message_id[0], "a-")
            m = f.new_message(
                other.user,
                other.topic_id,
                other.conversation_id,
                f"{prefix}{self._ids[other.user]}",
            )
            m.created_at = other.created_at  # the same instant: only the ids order them
            self.messages.append(m)
            return m.topic_id.encode(), f.advance(m, f.text())
        if label == "duplicate":
            if not self.recent:
                return None
            again = self.rng.choice(self.recent)
            return _key(again), again
        if not self.messages:
            return None
        if label in ("edited", "edited_gap", "edited_created_at", "deleted", "reverted", "big"):
            pool = live if label != "reverted" else [m for m in live if _earlier(m)]
            if not pool:
                return None
            m = self.rng.choice(pool)
            if label == "reverted":
                text = _earlier(m)
            elif label == "deleted":
                text = ""
            elif label == "big":
                text = f.sized_text(self.rng.choice(AT_LIMIT_BYTES))
            else:
                text = f.text()
            gap = self.rng.randint(2, 5) if label == "edited_gap" else 1
            value = f.advance(m, text, gap=gap, moved=label == "edited_created_at")
            return m.topic_id.encode(), value
        if label == "undeleted":
            gone = [m for m in self.messages if m.deleted and (m.user, m.topic_id) in hot]
            if not gone:
                return None
            m = self.rng.choice(gone)
            return m.topic_id.encode(), f.advance(m, f.text())
        if label == "twin":
            pool = [m for m in self.messages if (m.user, m.topic_id) in hot]
            if not pool:
                return None
            m = self.rng.choice(pool)
            return m.topic_id.encode(), f.twin(m)
        if label == "stale_replay":
            old = [m for m in self.messages if m.revision >= 1 and len(m.values) > 1]
            if not old:
                return None
            m = self.rng.choice(old)
            return m.topic_id.encode(), self.rng.choice(m.values[:-1])
        if label == "stale_edit":
            gone = [m for m in self.messages if m.deleted and m.revision >= 2]
            if not gone:
                return None
            m = self.rng.choice(gone)
            return m.topic_id.encode(), f.stale_edit(m)
        m = self.rng.choice(self.messages)
        if label == "conflict":
            other = f.new_message(
                m.user, m.topic_id, f"{m.conversation_id}-other", self._message_id(m.user)
            )
            return m.topic_id.encode(), f.advance(other, f.text())
        if label == "moved":
            return self._moved(m)
        return f.poison(label.removeprefix("poison:"), m)

    def _moved(self, m: Message) -> tuple[bytes, bytes] | None:
        counts = (self.spec.partitions, 2 * self.spec.partitions)[: 2 if self.spec.grows else 1]
        here = [partition_for(m.topic_id.encode(), k) for k in counts]
        if len(set(here)) > 1:
            # The growth moves this topic to another partition: a claim made after it would
            # race the topic's older events on the first partition, so move nothing here.
            return None
        targets = [
            t
            for t in TOPIC_IDS
            if t != m.topic_id and [partition_for(t.encode(), k) for k in counts] == here
        ]
        if not targets:
            return None
        target = self.rng.choice(targets)
        conversation = self.topics.get((m.user, target), m.conversation_id)
        value = self.factory.elsewhere(m, topic_id=target, conversation_id=conversation)
        return target.encode(), value


def _earlier(m: Message) -> str:
    """The latest earlier text of ``m`` other than its current one ("" when there is none)."""
    return next((t for t in reversed(m.texts[:-1]) if t and t != m.texts[-1]), "")


def _key(value: bytes) -> bytes:
    """The topic id of an event this generator wrote (for re-sending its exact bytes)."""
    return str(json.loads(value)["topic_id"]).encode()
