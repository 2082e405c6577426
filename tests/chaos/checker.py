"""The independent checker: the model from the event log, then every check against the evidence.

It trusts nothing the consumers wrote about themselves except their audit logs, and those only
for the offset check and for telling the deliveries of a poison record apart. Everything else
comes from Kafka (the event log and the DLQ) and from PostgreSQL as a client sees it (the final
tables and the concurrent reader's samples). The model and the expected cards come from the
checker's own contract and the oracle extractor's rule, never from the product.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.chaos.anomalies import Findings
from tests.chaos.check_offsets import check_offsets
from tests.chaos.check_samples import check_samples
from tests.chaos.check_state import check_dlq, check_messages, check_runs, check_topics_and_cards
from tests.chaos.expected import ExpectedCards
from tests.chaos.history import DbState, DeadRecord
from tests.chaos.model import LogRecord, Model, build_model
from tests.chaos.oracle_rule import EXTRACTOR_ID


@dataclass(slots=True)
class Evidence:
    topic: str
    records: list[LogRecord]
    dead: list[DeadRecord]
    db: DbState
    audit: list[dict[str, Any]]
    samples: list[dict[str, Any]]


@dataclass(slots=True)
class Verdict:
    findings: Findings
    model: Model
    stats: dict[str, Any]


def check(evidence: Evidence, findings: Findings | None = None) -> Verdict:
    started = time.monotonic()
    findings = findings if findings is not None else Findings()
    model = build_model(evidence.records, EXTRACTOR_ID)
    for problem in model.ambiguities:
        findings.add("harness_error", problem=problem)
    expect = ExpectedCards()
    check_messages(model, evidence.db, findings)
    check_topics_and_cards(model, evidence.db, expect, findings)
    check_runs(model, evidence.db, expect, findings)
    check_dlq(model, evidence.dead, evidence.topic, findings, evidence.audit)
    sampled = check_samples(evidence.samples, model, expect, findings)
    offsets = check_offsets(
        evidence.audit, model, evidence.dead, evidence.topic, findings, evidence.db.runs
    )
    if (
        offsets["records_checked"] < len(evidence.records)
        and "no_convergence" not in findings.counts
    ):
        # After convergence every record lies below a logged commit; if not, the audit logs
        # are incomplete and the offset check would pass for want of evidence.
        findings.add(
            "harness_error",
            problem="audit logs do not cover every committed record",
            checked=offsets["records_checked"],
            records=len(evidence.records),
        )
    poison = Counter(sorted(v.reasons)[0] for v in model.poison())
    stats = {
        "records": len(evidence.records),
        "applied": len(evidence.records) - sum(poison.values()),
        "poison_by_reason": dict(sorted(poison.items())),
        "dlq_records": len(evidence.dead),
        "topics": len(model.topics),
        "messages": len(model.messages),
        "input_states": sum(len(t.hashes) for t in model.topics.values()),
        "runs": len(evidence.db.runs),
        "cards": len(evidence.db.cards),
        "samples": sampled,
        "offsets": offsets,
        "check_s": round(time.monotonic() - started, 2),
    }
    return Verdict(findings, model, stats)
