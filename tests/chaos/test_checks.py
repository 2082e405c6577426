"""The sample checks and the offset check on small cases: what is sound, what is an anomaly.

No services: a clean chaos run means something only if these checks can fail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tests.chaos.anomalies import Findings
from tests.chaos.check_offsets import check_offsets
from tests.chaos.check_samples import check_samples
from tests.chaos.expected import ExpectedCards, card_digest
from tests.chaos.handmade import TOPIC, Log
from tests.chaos.history import DeadRecord
from tests.chaos.model import Model, TopicModel, build_model
from tests.chaos.oracle_rule import EXTRACTOR_ID as ORACLE

# --- samples -------------------------------------------------------------------------------------


def three_states() -> tuple[Model, TopicModel]:
    log = Log()
    m = log.message()
    for text in (
        "We decided to use PostgreSQL.",
        "Let's meet Maria in Lisbon.",
        "We decided to use PostgreSQL.",
    ):
        log.write(m, text)
    model = build_model(log.records, ORACLE)
    return model, model.topics[("u", "t")]


def sample(
    topic: TopicModel,
    expect: ExpectedCards,
    source_hash: str,
    t: float,
    run_id: int = 1,
    drop: int = 0,
    other_run: int | None = None,
) -> dict[str, Any]:
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


def run_samples(samples: list[dict[str, Any]], model: Model) -> dict[str, int]:
    findings = Findings()
    check_samples(samples, model, ExpectedCards(), findings)
    return findings.by_kind()


def test_samples_that_move_forward_through_a_revisited_state_are_sound() -> None:
    model, topic = three_states()
    expect = ExpectedCards()
    a, b = topic.hashes[0], topic.hashes[1]
    samples = [sample(topic, expect, h, t) for t, h in enumerate((a, a, b, a, a))]
    assert run_samples(samples, model) == {}


def test_an_older_card_set_after_a_newer_one_is_a_regression() -> None:
    model, topic = three_states()
    expect = ExpectedCards()
    a, b = topic.hashes[0], topic.hashes[1]
    # a -> b -> a is fine once (the input reverts), but b after the revert is going back.
    samples = [sample(topic, expect, h, t) for t, h in enumerate((a, b, a, b))]
    assert run_samples(samples, model) == {"regressing_card_set": 1}


def test_missing_cards_and_cards_of_another_run_are_torn_and_mixed() -> None:
    model, topic = three_states()
    expect = ExpectedCards()
    a = topic.hashes[0]
    assert run_samples([sample(topic, expect, a, 0, drop=1)], model) == {"torn_card_set": 1}
    assert run_samples([sample(topic, expect, a, 0, other_run=9)], model) == {"mixed_card_set": 1}


def test_cards_of_an_input_the_topic_never_had_are_foreign() -> None:
    model, topic = three_states()
    expect = ExpectedCards()
    bogus = sample(topic, expect, topic.hashes[0], 0)
    bogus["digest"] = card_digest([[0, "decision", "something else", "", ["m1"]]])
    assert run_samples([bogus], model) == {"foreign_card_set": 1}


# --- offsets -------------------------------------------------------------------------------------


def audit_line(t: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"t": t, "m": t, "instance": "i1", "pid": 1, "event": event, **fields}


def offsets_findings(
    audit: list[dict[str, Any]], log: Log, dead: Sequence[DeadRecord] = ()
) -> dict[str, int]:
    findings = Findings()
    check_offsets(audit, build_model(log.records, ORACLE), list(dead), TOPIC, findings)
    return findings.by_kind()


def test_a_commit_after_the_topics_run_is_safe_and_one_before_it_is_not() -> None:
    log = Log()
    m = log.message()
    log.write(m, "We decided to use PostgreSQL.")  # produced at t=1
    applied = audit_line(1.5, "batch", applied=[[TOPIC, 0, 0, "u", "t", "m1", 0]])
    run = audit_line(2.5, "run", user_id="u", topic_id="t", outcome="new")
    early = audit_line(2.0, "commit", topic=TOPIC, offsets={"0": 1})
    late = audit_line(3.0, "commit", topic=TOPIC, offsets={"0": 1})
    assert offsets_findings([applied, run, late], log) == {}
    assert offsets_findings([applied, early, run], log) == {"offset_passed_watermark": 1}


def test_a_run_stored_by_the_operators_reextract_covers_a_members_later_commit() -> None:
    log = Log()
    m = log.message()
    log.write(m, "We decided to use PostgreSQL.")  # produced at t=1
    applied = audit_line(1.5, "batch", applied=[[TOPIC, 0, 0, "u", "t", "m1", 0]])
    commit = audit_line(3.0, "commit", topic=TOPIC, offsets={"0": 1})
    by_reextract = {
        "user_id": "u",
        "topic_id": "t",
        "consumer_instance": "reextract-host-1",
        "created_at": datetime.fromtimestamp(2.5, UTC),
    }
    by_member = by_reextract | {"consumer_instance": "host-2"}  # its run would be audited
    model = build_model(log.records, ORACLE)
    for rows, expected in (([by_reextract], {}), ([by_member], {"offset_passed_watermark": 1})):
        findings = Findings()
        check_offsets([applied, commit], model, [], TOPIC, findings, rows)
        assert findings.by_kind() == expected


def test_a_poison_record_must_be_in_the_dlq_before_its_offset_is_committed() -> None:
    log = Log()
    m = log.message()
    log.add(*log.factory.poison("invalid_json", m))
    commit = audit_line(5.0, "commit", topic=TOPIC, offsets={"0": 1})
    assert offsets_findings([commit], log) == {"offset_passed_watermark": 1}


def test_each_group_must_have_dead_lettered_what_it_commits_even_if_another_group_did() -> None:
    log = Log()
    m = log.message()
    key, value = log.factory.poison("invalid_json", m)
    log.add(key, value)
    headers = {
        "cardwright.reason": "invalid_json",
        "cardwright.source.topic": TOPIC,
        "cardwright.source.partition": "0",
        "cardwright.source.offset": "0",
        "cardwright.consumer": "i1",
    }
    copy_by_a = DeadRecord(key, value, headers, 2_000)
    commit_by_a = dict(audit_line(3.0, "commit", topic=TOPIC, offsets={"0": 1}), cluster="w")
    commit_by_b = dict(
        audit_line(3.5, "commit", topic=TOPIC, offsets={"0": 1}), instance="i2", cluster="g1-"
    )
    assert offsets_findings([commit_by_a], log, [copy_by_a]) == {}
    assert offsets_findings([commit_by_a, commit_by_b], log, [copy_by_a]) == {
        "offset_passed_watermark": 1
    }
    copy_by_b = DeadRecord(key, value, headers | {"cardwright.consumer": "i2"}, 3_200)
    assert offsets_findings([commit_by_a, commit_by_b], log, [copy_by_a, copy_by_b]) == {}


def test_card_digest_is_stable_for_json_round_trips() -> None:
    rows = [(0, "decision", "t", "b", ["m1"])]
    assert card_digest(rows) == card_digest(json.loads(json.dumps(rows)))


def test_each_group_must_have_applied_what_it_commits_even_if_another_group_did() -> None:
    log = Log()
    m = log.message()
    log.write(m, "We decided to use PostgreSQL.")
    applied_by_a = dict(
        audit_line(1.5, "batch", applied=[[TOPIC, 0, 0, "u", "t", "m1", 0]]), cluster="w"
    )
    run_by_a = dict(audit_line(2.5, "run", user_id="u", topic_id="t", outcome="new"), cluster="w")
    commit_by_a = dict(audit_line(3.0, "commit", topic=TOPIC, offsets={"0": 1}), cluster="w")
    commit_by_b = dict(audit_line(3.5, "commit", topic=TOPIC, offsets={"0": 1}), cluster="g1-")
    assert offsets_findings([applied_by_a, run_by_a, commit_by_a], log) == {}
    assert offsets_findings([applied_by_a, run_by_a, commit_by_a, commit_by_b], log) == {
        "offset_passed_watermark": 1
    }
