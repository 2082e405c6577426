"""Run one seeded chaos schedule and check it.

    python -m tests.chaos.run --seed S --minutes M [--workers M] [--partitions K] [--out DIR]
    python -m tests.chaos.run --seed 1-20 --minutes 2     # seeds one after another, one stack
    python -m tests.chaos.run --seed 3 --groups 2         # two groups racing on one database
    python -m tests.chaos.run --scenario BUG [--planted BUG]   # a planted-bug scenario
    python -m tests.chaos.run --seed 1-2 --extractor hanging   # the oracle, misbehaving
    python -m tests.chaos.run --seed 1-10 --brokers 3      # a 3-broker cluster, its faults too
    python -m tests.chaos.run --seed 1 --group-protocol consumer   # KIP-848 members

Starts its own Kafka and PostgreSQL (it restarts both), M ``cardwright consume`` processes in one
group over K partitions, a concurrent reader, the seeded workload and the seeded fault schedule;
waits for convergence after the last fault; then checks everything. Prints a summary (or the
JSON report with --json); writes report.json, and on any anomaly the whole history, to DIR.
Exit status: 0 without anomalies, 1 with anomalies, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chaos import report
from tests.chaos.brokers import BrokerFaults
from tests.chaos.faults import CLUSTER_KINDS, KINDS, OPTIONAL_KINDS, estimated_end, schedule
from tests.chaos.harness import ChaosRun, Settings
from tests.chaos.injector import FaultRecord, Injector
from tests.chaos.misbehaving import SPECS as EXTRACTORS
from tests.chaos.misbehaving import worker_env as extractor_env
from tests.chaos.scenarios import SCENARIOS, run_scenario
from tests.chaos.stack import ChaosStack
from tests.chaos.workload import Workload, WorkloadSpec
from tests.conftest import reap_orphaned_test_stacks

# The workers join the group and take partitions before the first records arrive.
LEAD_S = 3.0
# A second group debounces shorter than the first (500 ms), so both extract the same topics at
# different moments and their replaces race.
OTHER_GROUP_DEBOUNCE_MS = 150
# Records keep coming this long after the last fault should be over.
TAIL_S = 10.0
METADATA_REFRESH_MS = "2000"


@dataclass(slots=True)
class Plan:
    seed: int
    minutes: float
    out_dir: Path
    workers: int = 3
    partitions: int = 6
    kinds: tuple[str, ...] = KINDS
    planted: str | None = None
    keep: bool = False
    groups: int = 1
    extractor: str = "oracle"  # or slow, hanging, flaky: tests/chaos/misbehaving.py
    group_protocol: str = "classic"


def say(message: str, started: float) -> None:
    print(f"chaos [{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def run_seeded(stack: ChaosStack, plan: Plan) -> dict[str, Any]:
    """Run ``plan`` on ``stack`` (already up) and return the report."""
    began = time.monotonic()
    faults = schedule(plan.seed, plan.minutes * 60, plan.kinds)
    # Every kind runs at least once, and all of them while records still stream in.
    duration = max(plan.minutes * 60, estimated_end(faults) + TAIL_S)
    grows = "add_partitions" in plan.kinds
    workload = Workload(WorkloadSpec(plan.seed, duration, plan.partitions, grows=grows))
    records = workload.generate()
    extra_env = {
        "CARDWRIGHT_GROUP_PROTOCOL": plan.group_protocol,
        **extractor_env(plan.extractor, plan.out_dir),
    }
    if grows:
        # Members and the publisher find new partitions at a metadata refresh (5 min by
        # default): within seconds here, so topics really move while the run goes on.
        extra_env["CARDWRIGHT_KAFKA_TOPIC_METADATA_REFRESH_INTERVAL_MS"] = METADATA_REFRESH_MS
    settings = Settings(partitions=plan.partitions, planted=plan.planted, extra_env=extra_env)
    chaos = ChaosRun(stack, settings, plan.out_dir, f"s{plan.seed}", plan.seed)
    result: dict[str, Any] = {"ok": False}
    try:
        say(
            f"{len(records)} records over {duration:.0f} s, {len(faults)} faults, "
            f"{plan.workers} workers, {plan.partitions} partitions",
            began,
        )
        for number in range(1, plan.groups):
            # Other groups extract on another rhythm, so they race the first on each topic.
            chaos.add_group(number, CARDWRIGHT_DEBOUNCE_MS=str(OTHER_GROUP_DEBOUNCE_MS))
        for cluster in chaos.clusters:
            cluster.start(plan.workers)
        chaos.start_sampler(workload.topic_keys())
        t0 = time.monotonic() + LEAD_S
        publisher = chaos.publish_in_background(records, t0)
        injector = Injector(chaos.clusters, stack, chaos.names.database)
        injector.topic, injector.partitions = chaos.names.topic, plan.partitions
        if stack.config.brokers > 1:
            injector.brokers = BrokerFaults(stack, chaos.names.topic, chaos.names.group)
        injector.on_fault = lambda f: say(_describe(f), began)
        injector.start(faults, t0)
        publisher.join()
        injector.join()
        say(f"published {chaos.published}; faults done; waiting for convergence", began)
        convergence = chaos.converge()
        done = time.monotonic()
        last_fault = max((f.end_m for f in injector.records), default=t0)
        say(f"converged={convergence.converged} in {convergence.seconds} s; checking", began)
        chaos.stop()
        for problem in injector.errors:
            chaos.findings.add("harness_error", problem=problem)
        verdict, evidence = chaos.check()
        run = {
            "seed": plan.seed,
            "minutes": plan.minutes,
            "workers": plan.workers,
            "groups": plan.groups,
            "partitions": plan.partitions,
            "brokers": stack.config.brokers,
            "group_protocol": plan.group_protocol,
            "planted": plan.planted,
            "extractor": plan.extractor,
            "out_dir": str(plan.out_dir),
            **chaos.info(),
            # From the end of the last fault (records may still have been arriving) and from
            # the last record, to lag 0 with nothing pending.
            "converged_after_last_fault_s": round(done - last_fault, 2),
            "converged_after_last_record_s": round(done - chaos.published_at, 2),
            "total_s": round(time.monotonic() - began, 1),
        }
        exits = [e for cluster in chaos.clusters for e in cluster.exits]
        result = report.build(run, verdict, injector.records, exits, convergence, t0)
        report.save(result, plan.out_dir, verdict, evidence)
        return result
    finally:
        chaos.stop()
        # A fault that did not fire means the run did not test what it says: keep its history.
        unfired = set(plan.kinds) - set(result.get("faults", {}).get("fired", {}))
        chaos.close(keep_history=plan.keep or not result["ok"] or bool(unfired))


def _describe(fault: FaultRecord) -> str:
    return f"fault {fault.kind} took {fault.end_m - fault.start_m:.1f} s: {fault.result}"


def seeds_from(spec: str) -> list[int]:
    """ "7", "1-20" or "3,5,9" -> the seeds."""
    seeds: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def campaign_row(result: dict[str, Any]) -> dict[str, Any]:
    """One line of figures per seed, for a table of many runs."""
    if "error" in result:
        return result
    return {
        "seed": result["seed"],
        "ok": result["ok"],
        "records": result["events"]["records"],
        "poison": sum(result["events"]["poison_by_reason"].values()),
        "topics": result["events"]["topics"],
        "faults": sum(result["faults"]["fired"].values()),
        "kinds": len(result["faults"]["fired"]),
        "converge_s": result["convergence"]["seconds"],
        "after_last_fault_s": result.get("converged_after_last_fault_s"),
        "samples": result["stats"]["samples"]["samples"],
        "anomalies": result["anomalies"]["by_kind"],
        "total_s": result.get("total_s"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seed", default="1", help="seed, or seeds run one after another: 1-20")
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the faulty phase")
    parser.add_argument("--workers", type=int, default=3, help="consumer processes (default 3)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions (default 6)")
    parser.add_argument(
        "--groups", type=int, default=1, help="consumer groups on one database (default 1)"
    )
    parser.add_argument("--out", type=Path, help="output directory (default: a new temp dir)")
    parser.add_argument(
        "--kinds",
        help=f"comma-separated fault kinds (default: {','.join(KINDS)}"
        + (f"; opt-in: {','.join(OPTIONAL_KINDS)})" if OPTIONAL_KINDS else ")"),
    )
    parser.add_argument("--planted", help="switch on a planted bug in every worker")
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        help="run the scripted scenario for this planted bug instead (bug on with --planted)",
    )
    parser.add_argument(
        "--extractor",
        choices=sorted(EXTRACTORS),
        default="oracle",
        help="the oracle as is, or slow, hanging or flaky (tests/chaos/misbehaving.py)",
    )
    parser.add_argument(
        "--brokers",
        type=int,
        default=1,
        help="Kafka brokers (default 1); with 3, the cluster faults join the default kinds",
    )
    parser.add_argument(
        "--group-protocol",
        choices=["classic", "consumer"],
        default="classic",
        help="the members' CARDWRIGHT_GROUP_PROTOCOL (default classic)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the history even when OK")
    parser.add_argument("--json", action="store_true", help="print the JSON report(s)")
    parser.add_argument("--kafka-port", type=int, help="Kafka port (default: a free one)")
    parser.add_argument("--postgres-port", type=int, help="PostgreSQL port (default: a free one)")
    args = parser.parse_args(argv)
    try:
        seeds = seeds_from(args.seed)
    except ValueError:
        parser.error(f"--seed {args.seed!r}: give a number, a range 1-20 or a list 3,5,9")
    if min(args.minutes, args.workers, args.partitions, args.groups) <= 0 or not seeds:
        parser.error("--minutes, --workers, --partitions, --groups and seeds must be positive")
    default_kinds = (*KINDS, *CLUSTER_KINDS) if args.brokers > 1 else KINDS
    kinds = tuple(k for k in (args.kinds or "").split(",") if k) or default_kinds
    unknown = set(kinds) - set(KINDS) - set(OPTIONAL_KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}")
    out = (args.out or Path(tempfile.mkdtemp(prefix=f"chaos-{args.seed}-"))).absolute()
    results = []
    reap_orphaned_test_stacks()  # stacks of killed runs, which nothing else stops
    stack = ChaosStack(args.kafka_port, args.postgres_port, brokers=args.brokers)
    try:
        stack.up()
        if args.scenario:
            results.append(run_scenario(stack, args.scenario, bool(args.planted), out))
        for seed in [] if args.scenario else seeds:
            where = out / str(seed) if len(seeds) > 1 else out
            plan = Plan(
                seed,
                args.minutes,
                where,
                args.workers,
                args.partitions,
                kinds,
                args.planted,
                args.keep,
                args.groups,
                args.extractor,
                args.group_protocol,
            )
            try:
                results.append(run_seeded(stack, plan))
            except Exception as exc:  # a broken run must not end the campaign
                results.append({"seed": seed, "ok": False, "error": repr(exc)})
                stack.ensure_up()
            if len(seeds) > 1:
                rows = [campaign_row(r) for r in results]
                (out / "campaign.json").write_text(json.dumps(rows, indent=2))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        stack.down()
    for result in results:
        text = report.summary(result) if "events" in result else f"chaos: {result}"
        print(json.dumps(result, indent=2, default=str) if args.json else text)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
