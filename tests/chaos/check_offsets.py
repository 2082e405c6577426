"""The committed offset never passed the durable watermark, checked from the audit logs.

For every commit of partition P at offset O (at wall time t) by a group, each record of P below
O must have been durable by t:
  - a poison record: a copy written by a member of that group (its ``cardwright.consumer``
    header) is in the DLQ, by its Kafka timestamp no later than t: each group's delivery of the
    record writes its own copy, so another group's copy does not make this commit safe;
  - an applied record: a member of that group logged applying it no later than t, and a member
    (of any group: they share the database) logged
    a run of its topic that ended after the record that last changed the topic's input up to it
    was produced, and no later than t. Cards that reflect that input cannot come from a run
    that ended before the input existed, so a commit without such a run committed work that was
    not done. (The bound is a necessary condition, so the check never accuses a correct worker.)

Each record is checked at the first commit of each group that passes it; a later commit cannot
make an earlier one right. Wall clocks are comparable: every process runs on this host.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tests.chaos.anomalies import Findings
from tests.chaos.history import DeadRecord
from tests.chaos.model import Model

# Runs that leave the topic's cards durable for their input: a new or reused run, the cards
# already current (noop), newer cards in place (stale), or the failure recorded after the last
# attempt (the design moves on and keeps the previous cards).
COVERING = frozenset({"new", "reused", "noop", "stale", "failed"})
# The consumer_instance of the runs `cardwright reextract` stores (cardwright/commands/reextract).
OPERATOR_PREFIX = "reextract-"
# Kafka timestamps are whole milliseconds; audit times are floats.
SLACK_S = 0.002


def check_offsets(
    audit: list[dict[str, Any]],
    model: Model,
    dead: list[DeadRecord],
    topic: str,
    findings: Findings,
    operator_runs: Sequence[dict[str, Any]] = (),
) -> dict[str, int]:
    """``operator_runs``: extract_runs rows stored by ``cardwright reextract`` (not a member, so
    not in the audit log); a member that finds their cards current rightly derives nothing."""
    applied: dict[tuple[str, int, int], float] = {}  # (group, partition, offset) -> first time
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    commits: list[tuple[float, str, str, int, int]] = []
    for line in audit:
        event, group = line["event"], line.get("cluster", "")
        if event == "batch":
            for kafka_topic, partition, offset, *_ in line.get("applied", []):
                if kafka_topic == topic:
                    applied.setdefault((group, partition, offset), line["t"])
        elif event == "run" and line.get("outcome") in COVERING:
            runs[(line["user_id"], line["topic_id"])].append(line["t"])
        elif event == "commit" and line.get("topic") == topic:
            for partition, offset in line["offsets"].items():
                commits.append((line["t"], group, line["instance"], int(partition), int(offset)))
    for key, at in _operator_run_times(operator_runs):
        runs[key].append(at)
    for times in runs.values():
        times.sort()
    dead_at = _first_dead_copies(audit, dead)

    verified: dict[tuple[str, int], int] = defaultdict(int)
    checked: dict[str, int] = defaultdict(int)
    for t, group, instance, partition, offset in sorted(commits):
        for o in range(verified[(group, partition)], offset):
            verdict = model.verdicts.get((partition, o))
            if verdict is None:
                continue
            checked[group] += 1
            first = applied.get((group, partition, o), float("inf"))
            written = dead_at.get((group, partition, o))
            problem = _problem(model, verdict, (partition, o), t, first, runs, written)
            if problem is not None:
                findings.add(
                    "offset_passed_watermark",
                    partition=partition,
                    committed=offset,
                    record=o,
                    by=instance,
                    at=t,
                    problem=problem,
                )
        verified[(group, partition)] = max(verified[(group, partition)], offset)
    # A converged run has every record checked once per group: report the least covered group.
    return {"commits": len(commits), "records_checked": min(checked.values(), default=0)}


def _first_dead_copies(
    audit: list[dict[str, Any]], dead: list[DeadRecord]
) -> dict[tuple[str, int, int], float]:
    """(group, partition, offset) -> when that group's first DLQ copy of the record was written."""
    group_of = {str(line["instance"]): line.get("cluster", "") for line in audit}
    dead_at: dict[tuple[str, int, int], float] = {}
    for record in dead:
        source = record.source()
        group = group_of.get(record.headers.get("cardwright.consumer", ""))
        if source is not None and group is not None:
            where = (group, *source)
            dead_at[where] = min(dead_at.get(where, float("inf")), record.timestamp_ms / 1000)
    return dead_at


def _operator_run_times(rows: Sequence[dict[str, Any]]) -> list[tuple[tuple[str, str], float]]:
    found = []
    for row in rows:
        if str(row.get("consumer_instance", "")).startswith(OPERATOR_PREFIX):
            created = row["created_at"]
            if isinstance(created, str):
                created = datetime.fromisoformat(created)
            found.append(((row["user_id"], row["topic_id"]), created.timestamp()))
    return found


def _problem(
    model: Model,
    verdict: Any,
    where: tuple[int, int],
    t: float,
    applied_at: float,
    runs: dict[tuple[str, str], list[float]],
    written: float | None,
) -> str | None:
    if verdict.reasons:
        if written is None or written > t + SLACK_S:
            return "poison record not yet in the DLQ (no copy by this group)"
        return None
    if applied_at > t:
        return "record not applied before the commit"
    event = verdict.event
    topic = model.topics[(event.user_id, event.topic_id)]
    anchor = topic.anchors_at[where]  # in another partition for a topic split by the growth
    produced = model.verdicts[anchor].record.timestamp_ms / 1000 - SLACK_S
    ends = runs.get(topic.key, [])
    first_after = bisect.bisect_left(ends, produced)
    if first_after >= len(ends) or ends[first_after] > t:
        return "no run of the topic since its input last changed"
    return None
