"""The checker's pure parts: the model, the sample checks and the offset check, on small logs.

No services: these pin down what the checker calls an anomaly, so that a clean chaos run means
something and a planted bug cannot slip through a check that could never fail.
"""

from __future__ import annotations

import json
import random

from schema.source_hash import source_hash as product_source_hash
from tests.chaos.anomalies import Findings
from tests.chaos.check_offsets import check_offsets
from tests.chaos.check_samples import check_samples
from tests.chaos.events import RAW_POISON, EventFactory
from tests.chaos.expected import ExpectedCards
from tests.chaos.model import LogRecord, build_model, source_hash
from tests.chaos.sampler import card_digest

TOPIC = "events"


class Log:
    """A one-partition event log built by hand, with produce times one second apart."""

    def __init__(self) -> None:
        self.factory = EventFactory(random.Random(7))
        self.records: list[LogRecord] = []

    def add(self, key: bytes, value: bytes, partition: int = 0) -> int:
        offset = sum(1 for r in self.records if r.partition == partition)
        self.records.append(
            LogRecord(partition, offset, key, value, 1000 * (len(self.records) + 1))
        )
        return offset

    def message(self, user="u", topic="t", conversation="c", message="m1"):
        return self.factory.new_message(user, topic, conversation, message)

    def write(self, m, text: str) -> int:
        return self.add(m.topic_id.encode(), self.factory.advance(m, text))


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


# --- samples -------------------------------------------------------------------------------------


def three_states():
    log = Log()
    m = log.message()
    for text in (
        "We decided to use PostgreSQL.",
        "Let's meet Maria in Lisbon.",
        "We decided to use PostgreSQL.",
    ):
        log.write(m, text)
    model = build_model(log.records, "rules@1")
    return model, model.topics[("u", "t")]


def sample(topic, expect, source_hash, t, run_id=1, drop=0, other_run=None):
    rows = expect.cards(topic, source_hash)
    ids = expect.card_ids("u", "t", source_hash, len(rows))
    cards = [[ids[i], other_run if (other_run and i == 0) else run_id, i] for i in range(len(rows))]
    cards = cards[drop:]
    return {
        "t": t,
        "user": "u",
        "topic": "t",
        "exists": True,
        "current_run": run_id,
        "cards_hash": source_hash,
        "run": [run_id, source_hash, len(rows)],
        "cards": cards,
        "digest": card_digest(rows[drop:]),
    }


def run_samples(samples, model):
    findings = Findings()
    check_samples(samples, model, ExpectedCards(), findings)
    return findings.by_kind()


def test_samples_that_move_forward_through_a_revisited_state_are_sound():
    model, topic = three_states()
    expect = ExpectedCards()
    a, b = topic.hashes[0], topic.hashes[1]
    samples = [sample(topic, expect, h, t) for t, h in enumerate((a, a, b, a, a))]
    assert run_samples(samples, model) == {}


def test_an_older_card_set_after_a_newer_one_is_a_regression():
    model, topic = three_states()
    expect = ExpectedCards()
    a, b = topic.hashes[0], topic.hashes[1]
    # a -> b -> a is fine once (the input reverts), but b after the revert is going back.
    samples = [sample(topic, expect, h, t) for t, h in enumerate((a, b, a, b))]
    assert run_samples(samples, model) == {"regressing_card_set": 1}


def test_missing_cards_and_cards_of_another_run_are_torn_and_mixed():
    model, topic = three_states()
    expect = ExpectedCards()
    a = topic.hashes[0]
    assert run_samples([sample(topic, expect, a, 0, drop=1)], model) == {"torn_card_set": 1}
    assert run_samples([sample(topic, expect, a, 0, other_run=9)], model) == {"mixed_card_set": 1}


def test_cards_of_an_input_the_topic_never_had_are_foreign():
    model, topic = three_states()
    expect = ExpectedCards()
    bogus = sample(topic, expect, topic.hashes[0], 0)
    bogus["digest"] = card_digest([[0, "decision", "something else", "", ["m1"]]])
    assert run_samples([bogus], model) == {"foreign_card_set": 1}


# --- offsets -------------------------------------------------------------------------------------


def audit_line(t, event, **fields):
    return {"t": t, "m": t, "instance": "i1", "pid": 1, "event": event, **fields}


def offsets_findings(audit, log):
    findings = Findings()
    check_offsets(audit, build_model(log.records, "rules@1"), [], TOPIC, findings)
    return findings.by_kind()


def test_a_commit_after_the_topics_run_is_safe_and_one_before_it_is_not():
    log = Log()
    m = log.message()
    log.write(m, "We decided to use PostgreSQL.")  # produced at t=1
    applied = audit_line(1.5, "batch", applied=[[TOPIC, 0, 0, "u", "t", "m1", 0]])
    run = audit_line(2.5, "run", user_id="u", topic_id="t", outcome="new")
    early = audit_line(2.0, "commit", topic=TOPIC, offsets={"0": 1})
    late = audit_line(3.0, "commit", topic=TOPIC, offsets={"0": 1})
    assert offsets_findings([applied, run, late], log) == {}
    assert offsets_findings([applied, early, run], log) == {"offset_passed_watermark": 1}


def test_a_poison_record_must_be_in_the_dlq_before_its_offset_is_committed():
    log = Log()
    m = log.message()
    log.add(*log.factory.poison("invalid_json", m))
    commit = audit_line(5.0, "commit", topic=TOPIC, offsets={"0": 1})
    assert offsets_findings([commit], log) == {"offset_passed_watermark": 1}


def test_card_digest_is_stable_for_json_round_trips():
    rows = [(0, "decision", "t", "b", ["m1"])]
    assert card_digest(rows) == card_digest(json.loads(json.dumps(rows)))
