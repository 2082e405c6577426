"""A small deterministic workload and its model: what every topic's input and cards must be.

The model is computed from the events alone (highest revision per message wins, tombstones
leave the input), so tests compare the pipeline's result with an answer it did not write.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import LiveMessage, TopicSnapshot
from cardwright.schema.events import MessageEvent
from cardwright.schema.source_hash import source_hash
from tests.integration.support import event

SENTENCES = [
    "I'll send the draft to Alice on Friday.",
    "We decided to use PostgreSQL for the ledger.",
    "Should we move the launch to March 14?",
    "I prefer short meetings in the morning.",
    "Let's meet Maria in Lisbon next week.",
    "The spec is at https://example.org/spec/v2 for review.",
    "Remember to ask Tom about the budget.",
    "We agreed to ship the beta on 2026-12-01.",
]


def conversation_events(
    seed: int, users: int = 2, topics_per_user: int = 4, messages_per_topic: int = 4
) -> list[MessageEvent]:
    """Creates, edits and deletes across users and topics, two topics per conversation."""
    rng = random.Random(seed)
    events: list[MessageEvent] = []
    for u in range(users):
        user = f"user-{u}"
        for t in range(topics_per_user):
            topic = f"topic-{t}"  # the same topic ids under every user, kept apart by user_id
            conversation = f"conv-{t // 2}"
            for m in range(messages_per_topic):
                message = f"{topic}-m{m}"
                text = rng.choice(SENTENCES)
                kwargs = {"user": user, "conversation": conversation, "minute": m}
                events.append(event(topic, message, text, **kwargs))  # type: ignore[arg-type]
                if rng.random() < 0.4:
                    edited = f"{rng.choice(SENTENCES)} (edited)"
                    events.append(event(topic, message, edited, revision=1, **kwargs))  # type: ignore[arg-type]
                if rng.random() < 0.2:
                    events.append(event(topic, message, "", revision=2, **kwargs))  # type: ignore[arg-type]
    return events


def expected_live(events: Iterable[MessageEvent]) -> dict[tuple[str, str], list[LiveMessage]]:
    latest: dict[tuple[str, str], MessageEvent] = {}
    for e in events:
        key = (e.user_id, e.message_id)
        if key not in latest or e.revision > latest[key].revision:
            latest[key] = e
    live: dict[tuple[str, str], list[LiveMessage]] = {}
    for e in latest.values():
        bucket = live.setdefault((e.user_id, e.topic_id), [])
        if not e.deleted:
            bucket.append(LiveMessage(e.message_id, e.role.value, e.created_at, e.text))
    for bucket in live.values():
        bucket.sort(key=lambda m: (m.created_at, m.message_id))
    return live


def expected_hashes(
    events: Iterable[MessageEvent], extractor_id: str = "rules@1"
) -> dict[tuple[str, str], str]:
    return {key: source_hash(extractor_id, msgs) for key, msgs in expected_live(events).items()}


def expected_cards(
    events: list[MessageEvent], version: str = "1"
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(user, topic) -> [(kind, title)] as the extractor derives them from the model."""
    extractor = RulesExtractor(version=version)
    conversations = {(e.user_id, e.topic_id): e.conversation_id for e in events}
    result: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for (user, topic), msgs in expected_live(events).items():
        snapshot = TopicSnapshot(user, topic, conversations[(user, topic)], 0, tuple(msgs))
        result[(user, topic)] = [(d.kind.value, d.title) for d in extractor.extract(snapshot)]
    return result
