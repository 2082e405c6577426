"""The checker's model: what the pipeline must hold, rebuilt from the event log alone.

Every record is classified on its own by the checker's strict parser (``contract``: bytes, JSON,
types, instants, key), then each partition is walked in offset order: a topic belongs to the
first conversation that names it and a message to the first topic that names it, claims being
made only by events that pass both checks; per message the event with the highest (revision,
event_id) wins, every field of it, and a delete leaves a tombstone. Along the way every topic's
sequence of input states is kept (a state per accepted event, consecutive repeats folded),
because the pipeline can only ever show cards of one of them, and never go back in that sequence.

A topic whose events are in two partitions (the events topic grew mid-run, the add_partitions
fault) is "split": its older events on one partition, its newer on another, processed in any
interleaving. Partitions are walked in order with one set of claims, which is log order for
such a topic (a partition added later has a higher number and only newer events); the states it
can show are every mix of a prefix of each partition's events (``lattice_states``), and it has
no single sequence to never go back in, so order checks leave it out.

Nothing here comes from the product: the parser, the source hash and the card ids are
``contract``'s, the expected cards the oracle's (``expected``). Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from tests.chaos.contract import MESSAGE_MOVED, TOPIC_CONFLICT, Event, Live, ordered
from tests.chaos.contract import classify as classify_record
from tests.chaos.contract import source_hash as contract_source_hash

TopicKey = tuple[str, str]  # (user_id, topic_id)
MessageKey = tuple[str, str]  # (user_id, message_id)


@dataclass(frozen=True, slots=True)
class LogRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Verdict:
    record: LogRecord
    event: Event | None
    reasons: frozenset[str]  # DLQ reasons that fit this record; empty when it is applied


@dataclass(slots=True)
class TopicModel:
    key: TopicKey
    conversation: str
    partition: int
    hashes: list[str] = field(default_factory=list)  # the input states in order, by hash
    inputs: dict[str, tuple[Live, ...]] = field(default_factory=dict)  # hash -> input
    anchors: dict[int, int] = field(default_factory=dict)  # offset -> offset of its state
    last_change: int = -1
    # Per partition, the accepted events in offset order (a split topic has two partitions).
    applied: dict[int, list[Event]] = field(default_factory=dict)
    # (partition, offset) -> (partition, offset) of its state: anchors across partitions.
    anchors_at: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    last_change_at: tuple[int, int] = (-1, -1)

    @property
    def split(self) -> bool:
        return len(self.applied) > 1

    @property
    def final_hash(self) -> str:
        return self.hashes[-1]


@dataclass(slots=True)
class Model:
    extractor_id: str
    verdicts: dict[tuple[int, int], Verdict] = field(default_factory=dict)
    topics: dict[TopicKey, TopicModel] = field(default_factory=dict)
    messages: dict[MessageKey, Event] = field(default_factory=dict)  # the winning events
    ambiguities: list[str] = field(default_factory=list)  # the workload broke an assumption

    def poison(self) -> list[Verdict]:
        return [v for v in self.verdicts.values() if v.reasons]


def classify(record: LogRecord) -> tuple[Event | None, frozenset[str]]:
    """The record's event, or the DLQ reasons that fit it (before any claim is looked at)."""
    return classify_record(record.key, record.value)


def build_model(records: list[LogRecord], extractor_id: str) -> Model:
    model = Model(extractor_id)
    by_partition: dict[int, list[LogRecord]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)
    named_in: dict[MessageKey, set[int]] = defaultdict(set)
    named_topics: dict[MessageKey, set[str]] = defaultdict(set)
    walk = _Walk()
    for partition in sorted(by_partition):
        _walk(model, sorted(by_partition[partition], key=lambda r: r.offset), named_in, walk)
    walk.finish(model)
    for record in records:
        event, _ = classify(record)
        if event is not None:
            named_topics[(event.user_id, event.message_id)].add(event.topic_id)
    for topic in model.topics.values():
        if topic.split:
            lattice_states(model, topic)
    for (user, message), partitions in named_in.items():
        # In two partitions under one topic id: a topic split by the growth, not ambiguous.
        if len(partitions) > 1 and len(named_topics[(user, message)]) > 1:
            model.ambiguities.append(
                f"message {message!r} of {user!r} is named in partitions {sorted(partitions)}: "
                "which topic claims it first depends on processing order"
            )
    return model


@dataclass(slots=True)
class _Walk:
    """The claims and live messages, kept across partitions (see the module docstring)."""

    conversation_of: dict[TopicKey, str] = field(default_factory=dict)
    topic_of: dict[MessageKey, str] = field(default_factory=dict)
    live: dict[TopicKey, dict[str, Event]] = field(default_factory=lambda: defaultdict(dict))
    moved: list[tuple[int, int]] = field(default_factory=list)

    def finish(self, model: Model) -> None:
        # A writer that is behind (a zombie, a new owner, another group) judges a record
        # against claims that records after it, stored by a writer ahead, have made already: a
        # moved message whose topic a later record claims for another conversation may be
        # dead-lettered as a topic conflict instead. Both are true of the record; the product
        # checks the topic first.
        for where in self.moved:
            verdict = model.verdicts[where]
            assert verdict.event is not None
            final = self.conversation_of.get((verdict.event.user_id, verdict.event.topic_id))
            if final is not None and final != verdict.event.conversation_id:
                model.verdicts[where] = replace(verdict, reasons=verdict.reasons | {TOPIC_CONFLICT})


def _walk(
    model: Model, records: list[LogRecord], named_in: dict[MessageKey, set[int]], walk: _Walk
) -> None:
    conversation_of, topic_of, live, moved = (
        walk.conversation_of,
        walk.topic_of,
        walk.live,
        walk.moved,
    )
    for record in records:
        event, reasons = classify(record)
        if event is not None:
            topic_key, message_key = (
                (event.user_id, event.topic_id),
                (event.user_id, event.message_id),
            )
            named_in[message_key].add(record.partition)
            claimed = conversation_of.get(topic_key, event.conversation_id)
            owner = topic_of.get(message_key, event.topic_id)
            reasons = frozenset(
                ({TOPIC_CONFLICT} if claimed != event.conversation_id else set())
                | ({MESSAGE_MOVED} if owner != event.topic_id else set())
            )
        model.verdicts[(record.partition, record.offset)] = Verdict(record, event, reasons)
        if event is not None and reasons == {MESSAGE_MOVED}:
            moved.append((record.partition, record.offset))
        if event is None or reasons:
            continue
        conversation_of[topic_key] = event.conversation_id
        topic_of[message_key] = event.topic_id
        topic = model.topics.get(topic_key)
        if topic is None:
            topic = model.topics[topic_key] = TopicModel(
                topic_key, event.conversation_id, record.partition
            )
        _apply(model, topic, live[topic_key], event, record.offset, record.partition)


def _apply(
    model: Model,
    topic: TopicModel,
    latest: dict[str, Event],
    event: Event,
    at: int,
    partition: int = 0,
) -> None:
    topic.applied.setdefault(partition, []).append(event)
    current = latest.get(event.message_id)
    if current is not None and event.precedence == current.precedence and event != current:
        model.ambiguities.append(
            f"message {event.message_id!r} has two different events with one event_id"
            f" at revision {event.revision}"
        )
    if current is None or event.precedence > current.precedence:
        latest[event.message_id] = event
        model.messages[(event.user_id, event.message_id)] = event
        messages = live_messages(latest.values())
        digest = source_hash(model.extractor_id, messages)
        if not topic.hashes or topic.hashes[-1] != digest:
            topic.hashes.append(digest)
            topic.inputs.setdefault(digest, messages)
            topic.last_change = at
            topic.last_change_at = (partition, at)
    # An event that changed nothing has the effect of the state an earlier event made.
    topic.anchors[at] = topic.last_change
    topic.anchors_at[(partition, at)] = topic.last_change_at


def lattice_states(model: Model, topic: TopicModel) -> None:
    """Add to a split topic's inputs every state a mix of a prefix of each partition's
    events makes: members process each partition in order, the partitions in any interleaving.
    The final state (all of both) is the log-order one already there."""
    sequences = [topic.applied[p] for p in sorted(topic.applied)]
    if len(sequences) != 2:
        model.ambiguities.append(f"topic {topic.key} is in {len(sequences)} partitions")
        return
    first, second = sequences
    for i in range(len(first) + 1):
        for j in range(len(second) + 1):
            latest: dict[str, Event] = {}
            for event in (*first[:i], *second[:j]):
                current = latest.get(event.message_id)
                if current is None or event.precedence > current.precedence:
                    latest[event.message_id] = event
            messages = live_messages(latest.values())
            topic.inputs.setdefault(source_hash(model.extractor_id, messages), messages)


def live_messages(events: Iterable[Event]) -> tuple[Live, ...]:
    chosen = [Live(e.message_id, e.role, e.created_at, e.text) for e in events if not e.deleted]
    return ordered(chosen)


def source_hash(extractor_id: str, messages: tuple[Live, ...]) -> str:
    """Source hash v1 as DESIGN.md defines it (``contract``)."""
    return contract_source_hash(extractor_id, messages)
