"""The checker's model on small hand-made logs: classification, claims, revisions, states.

No services. These pin down the model the whole checker stands on.
"""

from __future__ import annotations

from cardwright.schema.source_hash import source_hash as product_source_hash
from tests.chaos.events import RAW_POISON
from tests.chaos.handmade import Log
from tests.chaos.model import build_model, source_hash


def test_each_poison_class_gets_its_reason_and_valid_events_none():
    log = Log()
    m = log.message()
    log.write(m, "I'll send the draft to Alice on Friday.")
    for reason in RAW_POISON:
        log.add(*log.factory.poison(reason, m))
    model = build_model(log.records, "rules@1")
    reasons = [sorted(model.verdicts[(0, o)].reasons) for o in range(len(log.records))]
    assert reasons[0] == []
    for reason, got in zip(RAW_POISON, reasons[1:], strict=True):
        assert reason in got


def test_claims_are_made_by_the_first_accepted_event_and_rejected_events_claim_nothing():
    log = Log()
    first = log.message(message="m1")
    log.write(first, "Hello there.")
    conflict = log.message(conversation="other", message="m2")
    log.write(conflict, "Claims the topic for another conversation.")
    moved = log.add(b"t2", log.factory.elsewhere(first, topic_id="t2"))
    # The moved event was rejected, so t2 is still free for conversation "c2".
    later = log.message(topic="t2", conversation="c2", message="m3")
    log.write(later, "A topic of its own.")
    model = build_model(log.records, "rules@1")
    assert model.verdicts[(0, 1)].reasons == {"topic_claimed_by_other_conversation"}
    assert model.verdicts[(0, moved)].reasons == {"message_moved_to_other_topic"}
    assert model.topics[("u", "t2")].conversation == "c2"
    assert set(model.messages) == {("u", "m1"), ("u", "m3")}


def test_highest_revision_wins_and_a_stale_edit_after_a_delete_changes_nothing():
    log = Log()
    m = log.message()
    log.write(m, "one")
    log.write(m, "two")
    log.write(m, "")  # deleted at revision 2
    stale = log.add(b"t", log.factory.stale_edit(m))
    replay = log.add(b"t", m.values[0])
    model = build_model(log.records, "rules@1")
    assert model.messages[("u", "m1")].deleted
    topic = model.topics[("u", "t")]
    assert topic.final_hash == source_hash("rules@1", ())
    assert topic.anchors[stale] == topic.anchors[replay] == 2


def test_a_revert_revisits_an_earlier_state_and_the_sequence_keeps_both_visits():
    log = Log()
    m = log.message()
    log.write(m, "alpha")
    log.write(m, "beta")
    log.write(m, "alpha")
    hashes = build_model(log.records, "rules@1").topics[("u", "t")].hashes
    assert len(hashes) == 3 and hashes[0] == hashes[2] != hashes[1]


def test_the_checkers_source_hash_agrees_with_the_products():
    log = Log()
    a, b = log.message(message="m1"), log.message(message="m2")
    log.write(a, 'Ünïcode and "quotes" — fine.')
    log.write(b, "Second.")
    topic = build_model(log.records, "rules@1").topics[("u", "t")]
    live = topic.inputs[topic.final_hash]
    assert topic.final_hash == product_source_hash("rules@1", live)


def test_a_message_named_in_two_partitions_is_reported_as_a_workload_error():
    log = Log()
    m = log.message()
    log.write(m, "here")
    log.add(b"t9", log.factory.elsewhere(m, topic_id="t9"), partition=1)
    assert build_model(log.records, "rules@1").ambiguities
