"""The checker's model on small hand-made logs: classification, claims, revisions, states.

No services. These pin down the model the whole checker stands on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tests.chaos.contract import utc_text
from tests.chaos.events import RAW_POISON, Message, encode
from tests.chaos.expected import ExpectedCards
from tests.chaos.handmade import Log
from tests.chaos.model import build_model, source_hash
from tests.chaos.oracle_rule import EXTRACTOR_ID as ORACLE

# Workload poison classes named after the rule they break, not after a DLQ reason.
FITS = {
    "missing_key": "key_mismatch",
    "instant_out_of_range": "schema_violation",
    "revision_string": "schema_violation",
    "version_bool": "unknown_schema_version",
    "epoch_created_at": "schema_violation",
    "duplicate_key": "invalid_json",
}
LOW_ID = "00000000-0000-4000-8000-000000000001"
HIGH_ID = "ffffffff-0000-4000-8000-000000000001"


def test_each_poison_class_gets_its_reason_and_valid_events_none() -> None:
    log = Log()
    m = log.message()
    log.write(m, "I'll send the draft to Alice on Friday.")
    for reason in RAW_POISON:
        log.add(*log.factory.poison(reason, m))
    model = build_model(log.records, ORACLE)
    reasons = [sorted(model.verdicts[(0, o)].reasons) for o in range(len(log.records))]
    assert reasons[0] == []
    for reason, got in zip(RAW_POISON, reasons[1:], strict=True):
        assert FITS.get(reason, reason) in got, reason


def test_claims_are_made_by_the_first_accepted_event_and_rejected_events_claim_nothing() -> None:
    log = Log()
    first = log.message(message="m1")
    log.write(first, "Hello there.")
    conflict = log.message(conversation="other", message="m2")
    log.write(conflict, "Claims the topic for another conversation.")
    moved = log.add(b"t2", log.factory.elsewhere(first, topic_id="t2"))
    # The moved event was rejected, so t2 is still free for conversation "c2".
    later = log.message(topic="t2", conversation="c2", message="m3")
    log.write(later, "A topic of its own.")
    model = build_model(log.records, ORACLE)
    assert model.verdicts[(0, 1)].reasons == {"topic_claimed_by_other_conversation"}
    # A writer behind another (a zombie, another group) may find t2 already claimed by "c2",
    # a later record, and dead-letter the moved event for that: both reasons fit it.
    assert model.verdicts[(0, moved)].reasons == {
        "message_moved_to_other_topic",
        "topic_claimed_by_other_conversation",
    }
    assert model.topics[("u", "t2")].conversation == "c2"
    assert set(model.messages) == {("u", "m1"), ("u", "m3")}


def test_highest_revision_wins_and_a_stale_edit_after_a_delete_changes_nothing() -> None:
    log = Log()
    m = log.message()
    log.write(m, "one")
    log.write(m, "two")
    log.write(m, "")  # deleted at revision 2
    stale = log.add(b"t", log.factory.stale_edit(m))
    replay = log.add(b"t", m.values[0])
    model = build_model(log.records, ORACLE)
    assert model.messages[("u", "m1")].deleted
    topic = model.topics[("u", "t")]
    assert topic.final_hash == source_hash(ORACLE, ())
    assert topic.anchors[stale] == topic.anchors[replay] == 2


def test_a_revert_revisits_an_earlier_state_and_the_sequence_keeps_both_visits() -> None:
    log = Log()
    m = log.message()
    log.write(m, "alpha")
    log.write(m, "beta")
    log.write(m, "alpha")
    hashes = build_model(log.records, ORACLE).topics[("u", "t")].hashes
    assert len(hashes) == 3 and hashes[0] == hashes[2] != hashes[1]


def test_a_message_named_in_two_partitions_is_reported_as_a_workload_error() -> None:
    log = Log()
    m = log.message()
    log.write(m, "here")
    log.add(b"t9", log.factory.elsewhere(m, topic_id="t9"), partition=1)
    assert build_model(log.records, ORACLE).ambiguities


# --- the new input rules -------------------------------------------------------------------------


def event(log: Log, m: Message, op: str, revision: int, text: str, **over: Any) -> int:
    """A hand-made event for message ``m`` (its factory state untouched), keyed by its topic."""
    return log.add(m.topic_id.encode(), encode(log.factory.document(m, op, revision, text, **over)))


def test_a_same_revision_twin_wins_by_the_higher_event_id_in_either_order() -> None:
    for first, second in ((LOW_ID, HIGH_ID), (HIGH_ID, LOW_ID)):
        log = Log()
        m = log.message()
        log.write(m, "one")
        event(log, m, "edited", 1, "low", event_id=LOW_ID)
        event(log, m, "edited", 1, "high" if first == HIGH_ID else "low", event_id=first)
        event(log, m, "edited", 1, "high" if second == HIGH_ID else "low", event_id=second)
        model = build_model(log.records, ORACLE)
        assert model.messages[("u", "m1")].text == "high"
        assert not model.ambiguities


def test_a_same_revision_delete_twin_deletes_only_if_its_event_id_is_higher() -> None:
    log = Log()
    m = log.message()
    log.write(m, "one")
    event(log, m, "edited", 1, "kept", event_id=HIGH_ID)
    event(log, m, "deleted", 1, "", event_id=LOW_ID)
    assert not build_model(log.records, ORACLE).messages[("u", "m1")].deleted


def test_every_field_of_the_winning_event_is_stored_and_the_order_follows_created_at() -> None:
    log = Log()
    a, b = log.message(message="a"), log.message(message="b")
    a.created_at = datetime(2026, 1, 1, 10, tzinfo=UTC)
    b.created_at = datetime(2026, 1, 1, 11, tzinfo=UTC)
    log.write(a, "first #card")
    log.write(b, "second #card")
    later = datetime(2026, 1, 1, 17, tzinfo=timezone(timedelta(hours=5)))  # 12:00 UTC
    event(log, a, "edited", 1, "first, edited #card", role="system", created_at=later.isoformat())
    model = build_model(log.records, ORACLE)
    stored = model.messages[("u", "a")]
    assert (stored.role, stored.created_at, stored.text) == ("system", later, "first, edited #card")
    topic = model.topics[("u", "t")]
    assert [m.message_id for m in topic.inputs[topic.final_hash]] == ["b", "a"]
    cards = ExpectedCards().cards(topic, topic.final_hash)
    assert [c[1] for c in cards] == ["action_item", "question", "link"]
    assert cards[1][3].startswith(f"system at {utc_text(later)}")
    assert cards[2][4] == ["b", "a"]


def test_created_at_ties_are_ordered_by_code_point_whatever_the_offsets() -> None:
    log = Log()
    when = datetime(2026, 1, 1, 9, tzinfo=UTC)
    ids = ["💬1", "～1", "Z", "a", "é"]
    for n, mid in enumerate(ids):
        m = log.message(message=mid)
        m.created_at = when.astimezone(timezone(timedelta(minutes=60 * n - 120)))
        log.write(m, f"text {n}")
    topic = build_model(log.records, ORACLE).topics[("u", "t")]
    order = [m.message_id for m in topic.inputs[topic.final_hash]]
    assert order == ["Z", "a", "é", "～1", "💬1"]


def test_an_edit_above_a_delete_undeletes_and_revision_gaps_are_fine() -> None:
    log = Log()
    m = log.message()
    log.write(m, "one")
    log.write(m, "")  # deleted at 1
    event(log, m, "edited", 5, "back again")
    event(log, m, "edited", 3, "stale, below the undelete")
    model = build_model(log.records, ORACLE)
    stored = model.messages[("u", "m1")]
    assert (stored.deleted, stored.revision, stored.text) == (False, 5, "back again")
    topic = model.topics[("u", "t")]
    assert len(topic.hashes) == 3  # one, nothing, back again


def test_a_topic_first_seen_as_a_delete_exists_with_no_input_and_no_cards() -> None:
    log = Log()
    m = log.message()
    event(log, m, "deleted", 2, "")
    event(log, m, "created", 0, "too late")
    model = build_model(log.records, ORACLE)
    topic = model.topics[("u", "t")]
    assert topic.hashes == [source_hash(ORACLE, ())]
    assert model.messages[("u", "m1")].deleted
    assert ExpectedCards().cards(topic, topic.final_hash) == []


def test_records_breaking_the_new_rules_are_poison_and_claim_nothing() -> None:
    log = Log()
    m = log.message(conversation="c")
    bad = [
        log.add(None, encode(log.factory.document(m, "created", 0, "no key"))),
        event(log, m, "created", 0, "x", created_at="9999-12-31T23:00:00-05:00"),
        event(log, m, "created", 0, "x", created_at="0001-01-01T01:00:00+05:00"),
        log.add(b"t", encode(log.factory.document(m, "created", 0, "x") | {"revision": "0"})),
        event(log, m, "created", 0, "x", schema_version=True),
        event(log, m, "created", 0, "x", created_at=1793523600),
    ]
    body = encode(log.factory.document(m, "created", 0, "dup"))
    bad.append(log.add(b"t", b'{"topic_id": "t", ' + body[1:]))
    other = log.message(conversation="c2", message="m2")
    log.write(other, "the topic is still free for c2")
    model = build_model(log.records, ORACLE)
    for offset in bad:
        assert model.verdicts[(0, offset)].reasons, offset
    assert model.topics[("u", "t")].conversation == "c2"
    assert set(model.messages) == {("u", "m2")}


def test_ids_are_per_user_so_one_message_id_in_two_users_is_two_messages() -> None:
    log = Log()
    mine, theirs = log.message(user="u1", message="msg-1"), log.message(user="u2", message="msg-1")
    log.write(mine, "mine")
    log.write(theirs, "theirs")
    model = build_model(log.records, ORACLE)
    assert {k: e.text for k, e in model.messages.items()} == {
        ("u1", "msg-1"): "mine",
        ("u2", "msg-1"): "theirs",
    }


def test_the_workload_poison_classes_are_all_poison_in_the_model() -> None:
    log = Log()
    m = log.message()
    log.write(m, "fine")
    for reason in RAW_POISON:
        log.add(*log.factory.poison(reason, m))
    model = build_model(log.records, ORACLE)
    assert all(model.verdicts[(0, o)].reasons for o in range(1, len(log.records)))
    first = log.records[0].value
    assert first is not None
    assert json.loads(first)["text"] == "fine"


def test_a_moved_message_whose_topic_nobody_else_claims_fits_only_message_moved() -> None:
    log = Log()
    first = log.message(message="m1")
    log.write(first, "Hello there.")
    moved = log.add(b"t2", log.factory.elsewhere(first, topic_id="t2"))
    model = build_model(log.records, ORACLE)
    assert model.verdicts[(0, moved)].reasons == {"message_moved_to_other_topic"}
