"""The run's report: JSON for programs, a short summary for people, and the saved history.

On any anomaly the output directory keeps everything needed to debug it: the event log and the
DLQ as read back, the final tables, the model's state sequences, every finding, the audit logs,
the workers' logs and the reader's samples.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.chaos.checker import Evidence, Verdict
from tests.chaos.cluster import Exit
from tests.chaos.harness import Convergence
from tests.chaos.injector import FaultRecord


def build(
    run: dict[str, Any],
    verdict: Verdict,
    faults: list[FaultRecord],
    exits: list[Exit],
    convergence: Convergence,
    t0: float,
) -> dict[str, Any]:
    scheduled = Counter(f.kind for f in faults)
    fired = Counter(f.kind for f in faults if f.fired)
    return {
        "ok": not verdict.findings,
        **run,
        "events": {
            k: verdict.stats[k]
            for k in ("records", "applied", "poison_by_reason", "dlq_records", "topics", "messages")
        },
        "faults": {
            "scheduled": dict(sorted(scheduled.items())),
            "fired": dict(sorted(fired.items())),
            "timeline": [
                {
                    "kind": f.kind,
                    "at_s": round(f.start_m - t0, 2),
                    "took_s": round(f.end_m - f.start_m, 2),
                    "params": f.params,
                    "result": f.result,
                }
                for f in faults
            ],
        },
        "worker_exits": dict(sorted(Counter(e.cause for e in exits).items())),
        "convergence": {
            "converged": convergence.converged,
            "seconds": convergence.seconds,
            "lag": convergence.lag,
            "pending_topics": convergence.pending,
        },
        "anomalies": verdict.findings.to_json(),
        "stats": verdict.stats,
    }


def summary(report: dict[str, Any]) -> str:
    events = report["events"]
    anomalies = report["anomalies"]["by_kind"]
    fired = report["faults"]["fired"]
    missing = set(report["faults"]["scheduled"]) - set(fired)
    lines = [
        f"chaos seed {report['seed']}: {'OK' if report['ok'] else 'ANOMALIES'}"
        + (f" (planted bug: {report['planted']})" if report.get("planted") else ""),
        f"  events: {events['records']} records, {events['applied']} applied, "
        f"{sum(events['poison_by_reason'].values())} poison {events['poison_by_reason']}, "
        f"{events['topics']} topics, {events['messages']} messages",
        f"  faults: {sum(fired.values())} injected {fired}"
        + (f"; NOT FIRED: {sorted(missing)}" if missing else ""),
        f"  workers: exits {report['worker_exits']}",
        f"  converged: {_convergence(report)}",
        f"  anomalies: {anomalies or 'none'}",
    ]
    if report.get("out_dir"):
        lines.append(f"  report: {report['out_dir']}/report.json")
    return "\n".join(lines)


def _convergence(report: dict[str, Any]) -> str:
    conv = report["convergence"]
    if not conv["converged"]:
        return f"NO (lag {conv['lag']}, {conv['pending_topics']} topics pending)"
    after = report.get("converged_after_last_fault_s")
    fault = f"{after} s after the last fault, " if after is not None else ""
    return f"{fault}{conv['seconds']} s after the last record and fault"


def save(report: dict[str, Any], out_dir: Path, verdict: Verdict, evidence: Evidence) -> None:
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "summary.txt").write_text(summary(report) + "\n")
    if report["ok"]:
        return
    with (out_dir / "events.jsonl").open("w") as out:
        for r in evidence.records:
            out.write(
                json.dumps(
                    {
                        "p": r.partition,
                        "o": r.offset,
                        "ts": r.timestamp_ms,
                        "key": _text(r.key),
                        "value": _text(r.value),
                    }
                )
                + "\n"
            )
    with (out_dir / "dlq.jsonl").open("w") as out:
        for d in evidence.dead:
            out.write(
                json.dumps(
                    {
                        "headers": d.headers,
                        "ts": d.timestamp_ms,
                        "key": _text(d.key),
                        "value": _text(d.value),
                    }
                )
                + "\n"
            )
    tables = {k: getattr(evidence.db, k) for k in ("messages", "topics", "runs", "cards")}
    (out_dir / "db.json").write_text(json.dumps(tables, default=str))
    model = {
        f"{u}/{t}": {
            "conversation": m.conversation,
            "partition": m.partition,
            "states": m.hashes,
            "anchors": m.anchors,
        }
        for (u, t), m in verdict.model.topics.items()
    }
    (out_dir / "model.json").write_text(json.dumps(model, default=str))
    (out_dir / "findings.json").write_text(
        json.dumps(verdict.findings.to_json(), indent=2, default=str)
    )


def _text(raw: bytes | None, limit: int = 4000) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")[:limit]
