"""The final-state and DLQ checks: a correct store passes, and each kind of damage is named."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tests.chaos.anomalies import Findings
from tests.chaos.check_state import check_dlq, check_messages, check_runs, check_topics_and_cards
from tests.chaos.expected import ExpectedCards
from tests.chaos.handmade import TOPIC, Log
from tests.chaos.history import DbState, DeadRecord
from tests.chaos.model import Model, build_model
from tests.chaos.oracle_rule import EXTRACTOR_ID as ORACLE


def stored_state(log: Log, expect: ExpectedCards) -> tuple[Model, DbState]:
    """The tables a correct pipeline would hold for ``log``, built from the model."""
    model = build_model(log.records, ORACLE)
    db = DbState()
    for (user, message), e in model.messages.items():
        db.messages.append(
            {
                "user_id": user,
                "message_id": message,
                "topic_id": e.topic_id,
                "conversation_id": e.conversation_id,
                "role": e.role,
                "text": e.text,
                "created_at": e.created_at,
                "revision": e.revision,
                "deleted": e.deleted,
            }
        )
    for run_id, ((user, topic_id), topic) in enumerate(model.topics.items(), start=1):
        rows = expect.cards(topic, topic.final_hash)
        db.runs.append(
            {
                "run_id": run_id,
                "user_id": user,
                "topic_id": topic_id,
                "source_hash": topic.final_hash,
                "message_count": len(topic.inputs[topic.final_hash]),
                "card_count": len(rows),
                "consumer_instance": "x",
            }
        )
        db.topics.append(
            {
                "user_id": user,
                "topic_id": topic_id,
                "conversation_id": topic.conversation,
                "current_run_id": run_id,
                "cards_source_hash": topic.final_hash,
            }
        )
        ids = expect.card_ids(user, topic_id, topic.final_hash, len(rows))
        for (position, kind, title, body, message_ids), card in zip(rows, ids, strict=True):
            db.cards.append(
                {
                    "card_id": card,
                    "run_id": run_id,
                    "user_id": user,
                    "topic_id": topic_id,
                    "position": position,
                    "kind": kind,
                    "title": title,
                    "body": body,
                    "message_ids": message_ids,
                }
            )
    return model, db


def final_findings(model: Model, db: DbState, expect: ExpectedCards) -> dict[str, int]:
    findings = Findings()
    check_messages(model, db, findings)
    check_topics_and_cards(model, db, expect, findings)
    check_runs(model, db, expect, findings)
    return findings.by_kind()


def small_log() -> Log:
    log = Log()
    a, b = log.message(message="m1"), log.message(message="m2", topic="t2", conversation="c2")
    log.write(a, "We decided to use PostgreSQL for the ledger.")
    log.write(b, "Let's meet Maria in Lisbon next week.")
    log.write(a, "Should we move the launch to March 14?")
    return log


def test_a_correct_final_state_passes_and_each_kind_of_damage_is_named() -> None:
    expect = ExpectedCards()
    model, db = stored_state(small_log(), expect)
    assert final_findings(model, db, expect) == {}

    model, db = stored_state(small_log(), expect)
    db.messages[0]["revision"] = 0
    assert final_findings(model, db, expect) == {"final_messages": 1}

    model, db = stored_state(small_log(), expect)
    db.cards.pop()
    assert "final_cards" in final_findings(model, db, expect)

    model, db = stored_state(small_log(), expect)
    db.cards[0]["run_id"] = 99
    assert "card_not_in_current_run" in final_findings(model, db, expect)

    model, db = stored_state(small_log(), expect)
    db.runs.append(dict(db.runs[0], run_id=7))
    assert final_findings(model, db, expect) == {"duplicate_run": 1}

    model, db = stored_state(small_log(), expect)
    db.runs[0]["card_count"] += 1
    assert final_findings(model, db, expect) == {"foreign_run": 1, "card_not_in_current_run": 1}


def test_every_poison_record_must_reach_the_dlq_unaltered_with_its_reason() -> None:
    log = Log()
    m = log.message()
    log.write(m, "Fine.")
    key, value = log.factory.poison("oversize_text", m)
    log.add(key, value)
    model = build_model(log.records, ORACLE)

    def dead(
        reason: str,
        raw: bytes | None = value,
        offset: int = 1,
        consumer: str = "w001",
        at_ms: int = 10_000,
    ) -> DeadRecord:
        headers = {
            "cardwright.reason": reason,
            "cardwright.source.topic": TOPIC,
            "cardwright.source.partition": "0",
            "cardwright.source.offset": str(offset),
            "cardwright.consumer": consumer,
        }
        return DeadRecord(key, raw, headers, at_ms)

    def assigned(
        t: float, instance: str = "w001", partitions: Sequence[int] = (0,)
    ) -> dict[str, Any]:
        return {"t": t, "event": "assigned", "instance": instance, "partitions": list(partitions)}

    def kinds(records: list[DeadRecord], audit: Iterable[dict[str, Any]] = ()) -> dict[str, int]:
        findings = Findings()
        check_dlq(model, records, TOPIC, findings, list(audit))
        return findings.by_kind()

    assert kinds([dead("oversize_text")], [assigned(1.0)]) == {}
    assert kinds([]) == {"dlq_missing": 1}
    assert kinds([dead("invalid_json")]) == {"dlq_missing": 1}
    assert kinds([dead("oversize_text", raw=b"changed")]) == {"dlq_missing": 1}
    altered_twin = [dead("oversize_text"), dead("oversize_text", raw=b"changed", at_ms=30_000)]
    assert kinds(altered_twin, [assigned(1.0), assigned(20.0)]) == {"dlq_missing": 1}
    assert kinds([dead("oversize_text"), dead("schema_violation", offset=0)]) == {
        "valid_event_dead_lettered": 1
    }
    # One copy per delivery: a member that got the partition twice (redelivery) may write two,
    # two members one each; two copies within one assignment of one member are a duplicate.
    twice = [dead("oversize_text", at_ms=10_000), dead("oversize_text", at_ms=30_000)]
    assert kinds(twice, [assigned(1.0), assigned(20.0)]) == {}
    assert kinds(twice, [assigned(1.0), assigned(20.0, partitions=(1,))]) == {"dlq_duplicate": 1}
    assert kinds(twice) == {"dlq_duplicate": 1}
    two_members = [dead("oversize_text"), dead("oversize_text", consumer="w002")]
    assert kinds(two_members, [assigned(1.0), assigned(2.0, "w002")]) == {}
    # A member never given the partition was never delivered the record.
    stranger = [dead("oversize_text"), dead("oversize_text", consumer="w002")]
    assert kinds(stranger, [assigned(1.0), assigned(2.0, "w002", partitions=(1,))]) == {
        "dlq_duplicate": 1
    }
