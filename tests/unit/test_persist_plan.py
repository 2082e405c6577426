"""Properties of the persist plan (storage.persist_plan), without a database.

The plan is applied here to an in-memory model of the stored rows (what the writer does with
it), so the rules of docs/design.md ("Message event") can be checked over generated batches:
any cut of a log into batches ends in the same rows and the same bad input as one batch; any
order of a conflict-free batch ends in the same rows; a replay writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from cardwright.schema.cards import TopicKey
from cardwright.schema.events import MessageEvent, Op
from cardwright.storage.persist_plan import (
    KnownMessage,
    KnownTopic,
    MessageKey,
    PersistPlan,
    plan_batch,
    topic_updates,
    version_of,
)

AT = datetime(2024, 5, 1, tzinfo=UTC)
TOPIC_CONVERSATION = {"t1": "c1", "t2": "c2"}
MESSAGE_TOPIC = {"m1": "t1", "m2": "t1", "m3": "t2"}


@dataclass
class Store:
    """The rows the writer would hold after applying plans, as the plan reads them."""

    topics: dict[TopicKey, KnownTopic] = field(default_factory=dict)
    messages: dict[MessageKey, KnownMessage] = field(default_factory=dict)
    texts: dict[MessageKey, str] = field(default_factory=dict)

    def apply(self, plan: PersistPlan) -> None:
        for key, conversation in plan.new_topics:
            self.topics[key] = KnownTopic(conversation, 0, None, None, None)
        changed: dict[TopicKey, int] = {}
        for event in plan.writes:
            key = (event.user_id, event.message_id)
            self.messages[key] = KnownMessage(event.topic_id, version_of(event))
            self.texts[key] = event.text
            topic = (event.user_id, event.topic_id)
            changed[topic] = changed.get(topic, 0) + 1
        for key, delta, at in topic_updates(plan, changed, self.topics):
            known = self.topics[key]
            last = at if known.last_event_at is None else max(at, known.last_event_at)
            self.topics[key] = KnownTopic(
                known.conversation_id, known.state_version + delta, None, None, last
            )


def make_event(
    message_id: str, revision: int, event_id: uuid.UUID, topic: str, conversation: str
) -> MessageEvent:
    return MessageEvent(
        event_id=event_id,
        op=Op.CREATED if revision == 0 else Op.EDITED,
        message_id=message_id,
        conversation_id=conversation,
        topic_id=topic,
        user_id="u",
        role="user",
        text=f"{message_id} r{revision} {event_id}",
        created_at=AT,
        revision=revision,
        occurred_at=AT + timedelta(seconds=revision),
    )


@st.composite
def events(draw: st.DrawFn, conflicts: bool) -> MessageEvent:
    message_id = draw(st.sampled_from(sorted(MESSAGE_TOPIC)))
    topic = MESSAGE_TOPIC[message_id]
    conversation = TOPIC_CONVERSATION[topic]
    if conflicts and draw(st.integers(0, 4)) == 0:
        topic = draw(st.sampled_from(["t1", "t2"]))  # maybe moved to another topic
    if conflicts and draw(st.integers(0, 4)) == 0:
        conversation = draw(st.sampled_from(["c1", "c2"]))  # maybe another conversation
    return make_event(message_id, draw(st.integers(0, 3)), draw(st.uuids()), topic, conversation)


def run(store: Store, batch: Sequence[MessageEvent]) -> PersistPlan:
    plan = plan_batch(batch, store.topics, store.messages)
    store.apply(plan)
    return plan


@given(log=st.lists(events(conflicts=True), max_size=12), data=st.data())
def test_any_cut_of_a_log_into_batches_ends_in_the_same_rows_and_bad_input(
    log: list[MessageEvent], data: st.DataObject
) -> None:
    whole = Store()
    rejected_whole = set(run(whole, log).rejected)

    cuts = sorted(data.draw(st.sets(st.integers(0, len(log)), max_size=4), label="cuts"))
    bounds = [0, *cuts, len(log)]
    parts = Store()
    rejected_parts: set[int] = set()
    for start, end in pairwise(bounds):
        rejected_parts |= {start + i for i in run(parts, log[start:end]).rejected}

    assert rejected_parts == rejected_whole
    assert parts.messages == whole.messages
    assert parts.texts == whole.texts
    assert {k: t.conversation_id for k, t in parts.topics.items()} == {
        k: t.conversation_id for k, t in whole.topics.items()
    }


@given(batch=st.lists(events(conflicts=False), max_size=12), data=st.data())
def test_any_order_of_a_conflict_free_batch_ends_in_the_same_rows(
    batch: list[MessageEvent], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(batch), label="shuffled")
    in_order, reordered = Store(), Store()
    plan = run(in_order, batch)
    run(reordered, shuffled)

    assert plan.rejected == {}
    assert reordered.messages == in_order.messages
    assert reordered.texts == in_order.texts
    # Each message holds its highest (revision, event_id), and the plan wrote it once, in key
    # order (the row lock order).
    for key, known in in_order.messages.items():
        assert known.version == max(version_of(e) for e in batch if e.message_id == key[1])
    keys = [(e.user_id, e.message_id) for e in plan.writes]
    assert keys == sorted(set(keys))


@given(log=st.lists(events(conflicts=True), max_size=12))
def test_a_replay_writes_nothing_and_rejects_the_same_events(log: list[MessageEvent]) -> None:
    store = Store()
    first = run(store, log)
    before = (dict(store.topics), dict(store.messages))

    again = run(store, log)

    assert again.writes == []
    assert again.new_topics == []
    assert set(again.rejected) == set(first.rejected)
    assert (store.topics, store.messages) == before


def test_a_rejected_event_claims_nothing() -> None:
    moved = make_event("m1", 1, uuid.uuid4(), "t2", "c2")  # m1 first named in t1 below
    first = make_event("m1", 0, uuid.uuid4(), "t1", "c1")
    other = make_event("m3", 0, uuid.uuid4(), "t2", "c3")  # t2 claimed by c2 by nobody yet
    plan = plan_batch([first, moved, other], {}, {})

    assert sorted(plan.rejected) == [1]
    assert plan.new_topics == [(("u", "t1"), "c1"), (("u", "t2"), "c3")]
    assert [e.message_id for e in plan.writes] == ["m1", "m3"]
