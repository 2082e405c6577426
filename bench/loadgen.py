"""Seeded synthetic load: users, topics, messages per topic, burstiness, text sizes, edits, deletes.

``generate(spec)`` returns the same list of events for the same spec, in the order a producer
would publish them. Each topic's own events stay in causal order (a message is created before
it is edited or deleted); ``burstiness`` decides how the topics are interleaved: 0 mixes them
uniformly, 1 publishes each topic's events back to back.

``publish_backlog`` pre-publishes a list of events with the product's Publisher, so every
measurement reads exactly the records a real producer would have written.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from cardwright.producers.publisher import Publisher
from cardwright.schema.events import MessageEvent

BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# The text builds on phrases the rules extractor recognises (actions, decisions, questions,
# people, places, dates, links), padded with filler, so extractions produce realistic card sets.
_PHRASES = (
    "I'll book the hotel near Alfama on Monday.",
    "We decided to fly to Lisbon on March 14 with Maria Silva.",
    "Should we rent a car for the weekend trip?",
    "Remember to ask Tom Baker about the shared card.",
    "Let's go with the cheaper option from Acme Corp.",
    "I prefer a window seat on long flights.",
    "The agenda is at https://example.com/agenda/2026 for everyone.",
    "Can you check whether Paris is cheaper in April?",
    "We need to send the invoice before Friday.",
    "Meet Anna Kowalski at the station in Berlin at 10:30.",
)
_FILLER_TEXT = (
    "sounds good to me and I think that works for the rest of the group as well "
    "though we might want to double check the numbers again later today"
)
_FILLER = _FILLER_TEXT.split()


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What to generate; every field shapes one axis of the load."""

    users: int = 100
    topics: int = 1000  # in total, spread round-robin over the users
    messages_per_topic: int = 20
    burstiness: float = 0.5  # chance that the next event continues the previous event's topic
    text_bytes: int = 240  # median text size; sizes are log-normal around it
    edit_rate: float = 0.05  # share of messages edited once after creation
    delete_rate: float = 0.02  # share of messages deleted after creation (and any edit)
    seed: int = 1

    def describe(self) -> dict[str, object]:
        return asdict(self)


def _text(rng: random.Random, target: int) -> str:
    size = max(16, min(30_000, int(rng.lognormvariate(0, 0.6) * target)))
    parts = [rng.choice(_PHRASES)]
    length = len(parts[0])
    while length < size:
        word = rng.choice(_FILLER)
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)


def _event(
    user: str,
    topic: str,
    message: str,
    op: str,
    revision: int,
    text: str,
    created: datetime,
    rng: random.Random,
) -> MessageEvent:
    return MessageEvent.model_validate(
        {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "op": op,
            "message_id": message,
            "conversation_id": f"{topic}-conv",
            "topic_id": topic,
            "user_id": user,
            "role": "assistant" if rng.random() < 0.4 else "user",
            "text": text,
            "created_at": created,
            "revision": revision,
            "occurred_at": created + timedelta(seconds=revision),
        }
    )


def topic_events(spec: LoadSpec, index: int, rng: random.Random) -> list[MessageEvent]:
    """One topic's events in causal order: creates, then edits and deletes of some of them."""
    user = f"user-{index % spec.users}"
    topic = f"topic-{index}"
    start = BASE_TIME + timedelta(minutes=index)
    creates = []
    for m in range(spec.messages_per_topic):
        created = start + timedelta(seconds=m)
        text = _text(rng, spec.text_bytes)
        creates.append(_event(user, topic, f"{topic}-m{m}", "created", 0, text, created, rng))
    later: list[MessageEvent] = []
    for created_event in creates:
        revision = 0
        if rng.random() < spec.edit_rate:
            revision += 1
            text = _text(rng, spec.text_bytes)
            later.append(_changed(created_event, "edited", revision, text, rng))
        if rng.random() < spec.delete_rate:
            revision += 1
            later.append(_changed(created_event, "deleted", revision, "", rng))
    return creates + later


def _changed(
    original: MessageEvent, op: str, revision: int, text: str, rng: random.Random
) -> MessageEvent:
    return _event(
        original.user_id,
        original.topic_id,
        original.message_id,
        op,
        revision,
        text,
        original.created_at,
        rng,
    )


def generate(spec: LoadSpec) -> list[MessageEvent]:
    """All events of ``spec``, interleaved across topics according to its burstiness."""
    rng = random.Random(spec.seed)
    queues = [topic_events(spec, i, rng) for i in range(spec.topics)]
    positions = [0] * len(queues)
    open_topics = list(range(len(queues)))  # topics with events left (swap-remove on exhaustion)
    where = {t: i for i, t in enumerate(open_topics)}
    stream: list[MessageEvent] = []
    current: int | None = None
    while open_topics:
        if current is None or current not in where or rng.random() >= spec.burstiness:
            current = open_topics[rng.randrange(len(open_topics))]
        stream.append(queues[current][positions[current]])
        positions[current] += 1
        if positions[current] == len(queues[current]):
            slot = where.pop(current)
            last = open_topics.pop()
            if last != current:
                open_topics[slot] = last
                where[last] = slot
    return stream


def distinct_messages(events: Iterable[MessageEvent]) -> int:
    return len({(e.user_id, e.message_id) for e in events})


def publish_backlog(bootstrap: str, topic: str, events: Iterable[MessageEvent]) -> int:
    """Publish ``events`` in order and wait until Kafka acknowledged every one."""
    publisher = Publisher({"bootstrap.servers": bootstrap}, topic)
    count = 0
    for event in events:
        publisher.publish(event)
        count += 1
    publisher.flush(120)
    return count
