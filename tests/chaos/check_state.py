"""Checks of the final database and the DLQ against the model.

Final state: every message, topic and card equals the model; runs are unique per source hash and
derive from input states the topic really had; every card belongs to its topic's current run.
DLQ: every poison record is there, unaltered, with a reason that fits, exactly once per delivery
of it; no applied record is there.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from typing import Any

from tests.chaos.anomalies import Findings
from tests.chaos.expected import ExpectedCards
from tests.chaos.history import DbState, DeadRecord
from tests.chaos.model import Model


def check_messages(model: Model, db: DbState, findings: Findings) -> None:
    stored = {(r["user_id"], r["message_id"]): r for r in db.messages}
    for key, event in model.messages.items():
        row = stored.get(key)
        if row is None:
            findings.add("final_messages", message=key, problem="missing")
            continue
        expected = {
            "topic_id": event.topic_id,
            "conversation_id": event.conversation_id,
            "role": event.role,
            "text": "" if event.deleted else event.text,
            "created_at": event.created_at,
            "revision": event.revision,
            "deleted": event.deleted,
        }
        differs = {k: [str(row[k]), str(v)] for k, v in expected.items() if row[k] != v}
        if differs:
            findings.add("final_messages", message=key, problem="differs", got_expected=differs)
    for key in stored.keys() - model.messages.keys():
        findings.add("final_messages", message=key, problem="unexpected")


def check_topics_and_cards(
    model: Model, db: DbState, expect: ExpectedCards, findings: Findings
) -> None:
    rows = {(r["user_id"], r["topic_id"]): r for r in db.topics}
    runs = {r["run_id"]: r for r in db.runs}
    cards: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for card in db.cards:
        cards[(card["user_id"], card["topic_id"])].append(card)
    for key, topic in model.topics.items():
        row = rows.get(key)
        if row is None:
            findings.add("final_topics", topic=key, problem="missing")
            continue
        if row["conversation_id"] != topic.conversation:
            findings.add(
                "final_topics", topic=key, got=row["conversation_id"], expected=topic.conversation
            )
        run = runs.get(row["current_run_id"])
        stored_hash = row["cards_source_hash"]
        if stored_hash != topic.final_hash or run is None or run["source_hash"] != stored_hash:
            findings.add(
                "final_cards",
                topic=key,
                problem="cards do not come from the final input",
                cards_hash=stored_hash,
                run_hash=None if run is None else run["source_hash"],
                expected_hash=topic.final_hash,
                state_index=_index(topic.hashes, stored_hash),
                states=len(topic.hashes),
            )
            continue
        got = sorted(cards.get(key, []), key=lambda c: (c["position"], c["card_id"]))
        want = expect.cards(topic, topic.final_hash)
        got_rows = [
            (c["position"], c["kind"], c["title"], c["body"], list(c["message_ids"])) for c in got
        ]
        ids = expect.card_ids(*key, topic.final_hash, len(want))
        if got_rows != want or [c["card_id"] for c in got] != ids:
            findings.add(
                "final_cards",
                topic=key,
                problem="cards differ from the extractor's output",
                got=[r[:3] for r in got_rows],
                expected=[r[:3] for r in want],
            )
    for key in rows.keys() - model.topics.keys():
        findings.add("final_topics", topic=key, problem="unexpected")
    _check_cards_belong(rows, runs, cards, findings)


def _check_cards_belong(
    rows: dict[tuple[str, str], dict[str, Any]],
    runs: dict[int, dict[str, Any]],
    cards: dict[tuple[str, str], list[dict[str, Any]]],
    findings: Findings,
) -> None:
    ids: Counter[str] = Counter()
    for key, topic_cards in cards.items():
        row = rows.get(key)
        current = None if row is None else row["current_run_id"]
        positions = Counter(c["position"] for c in topic_cards)
        for card in topic_cards:
            ids[card["card_id"]] += 1
            if card["run_id"] != current:
                findings.add(
                    "card_not_in_current_run",
                    topic=key,
                    card=card["card_id"],
                    card_run=card["run_id"],
                    current_run=current,
                )
        for position, count in positions.items():
            if count > 1:
                findings.add("duplicate_card", topic=key, position=position, count=count)
        run = runs.get(current) if current is not None else None
        if run is not None and run["card_count"] != len(topic_cards):
            findings.add(
                "card_not_in_current_run",
                topic=key,
                problem="card count differs from the run's",
                cards=len(topic_cards),
                run_card_count=run["card_count"],
            )
    for card_id, count in ids.items():
        if count > 1:
            findings.add("duplicate_card", card=card_id, count=count)


def check_runs(model: Model, db: DbState, expect: ExpectedCards, findings: Findings) -> None:
    seen = Counter((r["topic_id"], r["user_id"], r["source_hash"]) for r in db.runs)
    for key, count in seen.items():
        if count > 1:
            findings.add("duplicate_run", topic=key[:2], source_hash=key[2], count=count)
    for run in db.runs:
        topic = model.topics.get((run["user_id"], run["topic_id"]))
        where = {"topic": (run["user_id"], run["topic_id"]), "run_id": run["run_id"]}
        if topic is None or run["source_hash"] not in topic.inputs:
            findings.add(
                "foreign_run",
                **where,
                source_hash=run["source_hash"],
                consumer=run["consumer_instance"],
            )
            continue
        # The run records its input and output: both must fit the state its hash names.
        messages = len(topic.inputs[run["source_hash"]])
        cards = len(expect.cards(topic, run["source_hash"]))
        if (run["message_count"], run["card_count"]) != (messages, cards):
            findings.add(
                "foreign_run",
                **where,
                problem="counts do not fit the run's input",
                got=[run["message_count"], run["card_count"]],
                expected=[messages, cards],
            )


# Kafka timestamps are whole milliseconds; audit times are floats.
SLACK_S = 0.002


def check_dlq(
    model: Model,
    dead: list[DeadRecord],
    topic: str,
    findings: Findings,
    audit: list[dict[str, Any]] | None = None,
) -> None:
    by_source: dict[tuple[int, int], list[DeadRecord]] = defaultdict(list)
    for record in dead:
        source = record.source()
        if source is None or record.headers.get("cardwright.source.topic") != topic:
            findings.add(
                "dlq_missing", problem="DLQ record without a valid source", headers=record.headers
            )
            continue
        by_source[source].append(record)
    for verdict in model.poison():
        where = (verdict.record.partition, verdict.record.offset)
        copies = by_source.get(where, [])
        fitting = [
            c
            for c in copies
            if c.headers.get("cardwright.reason") in verdict.reasons
            and c.key == verdict.record.key
            and c.value == verdict.record.value
        ]
        if not fitting:
            findings.add(
                "dlq_missing",
                source=where,
                expected_reasons=sorted(verdict.reasons),
                got_reasons=[c.headers.get("cardwright.reason") for c in copies],
                unaltered=[
                    c.key == verdict.record.key and c.value == verdict.record.value for c in copies
                ],
            )
        elif len(fitting) < len(copies):
            findings.add(
                "dlq_missing",
                source=where,
                problem="a copy is altered or has a reason that does not fit",
                expected_reasons=sorted(verdict.reasons),
                got_reasons=[c.headers.get("cardwright.reason") for c in copies],
            )
        _check_one_copy_per_delivery(where, copies, audit or [], findings)
    for where, copies in by_source.items():
        applied = model.verdicts.get(where)
        if applied is None or not applied.reasons:
            findings.add(
                "valid_event_dead_lettered",
                source=where,
                reasons=[c.headers.get("cardwright.reason") for c in copies],
                detail=[c.headers.get("cardwright.detail") for c in copies][:2],
            )


def _check_one_copy_per_delivery(
    where: tuple[int, int],
    copies: list[DeadRecord],
    audit: list[dict[str, Any]],
    findings: Findings,
) -> None:
    """A poison record is delivered to a member once per assignment of its partition (a crash,
    a rebalance or a lost partition redelivers it to the next owner, from the committed offset).
    So each member's copies of it fall in distinct assignment periods of that partition, the
    periods read from the member's audit log ("assigned" lines; a copy before the first logged
    assignment counts as the first period). Two copies by one member in one period: a DLQ
    write was repeated within one delivery. A copy by a member whose audit log shows it was
    never assigned the partition is no delivery at all. (That every group's delivery wrote its
    copy before the group committed past the record is ``check_offsets``'.)"""
    partition = where[0]
    members = {str(line.get("instance")) for line in audit}
    starts: dict[str, list[float]] = defaultdict(list)
    for line in audit:
        if line.get("event") == "assigned" and partition in line.get("partitions", ()):
            starts[str(line.get("instance"))].append(float(line["t"]))
    periods: Counter[tuple[str, int]] = Counter()
    for copy in copies:
        member = copy.headers.get("cardwright.consumer", "")
        begun = sorted(starts.get(member, []))
        if member in members and not begun:
            # Only the partition's owner is delivered its records: a copy by a member that was
            # never given the partition is not one of its deliveries.
            findings.add(
                "dlq_duplicate",
                source=where,
                consumer=member,
                problem="written by a member never assigned the partition",
            )
            continue
        periods[(member, bisect.bisect_right(begun, copy.timestamp_ms / 1000 + SLACK_S))] += 1
    for (member, period), count in periods.items():
        if count > 1:
            findings.add(
                "dlq_duplicate", source=where, consumer=member, assignment=period, copies=count
            )


def _index(hashes: list[str], digest: str | None) -> int | None:
    return hashes.index(digest) if digest in hashes else None
