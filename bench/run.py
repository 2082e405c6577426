"""``python -m bench.run [--quick] [--only NAME ...]``: every measurement, side by side, in one run.

On the bench's own local stack (bench.environment), one seeded backlog is published once and
read by every system: cardwright with one and two members, the no-op replay, the raw limits,
the naive consumer and the Quix Streams peer. Freshness uses paced loads at fractions of the
measured maximum; cost growth runs in-process. Figures and ratios are printed and written to
bench/results/<name>.json with the machine's description, and a plot to bench/results/plot.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    cost,
    extractor_quality,
    floor,
    freshness,
    llm_extractor,
    outage,
    peer,
    pipeline,
    references,
    report,
    slow_extractor,
)
from bench.environment import bench_stack, fresh_database, fresh_topic, machine
from bench.loadgen import LoadSpec, distinct_messages, generate, publish_backlog

MEASUREMENTS = (
    "throughput",
    "replay",
    "freshness",
    "references",
    "peer",
    "cost",
    "memory",
    "extractors",
    "outage",
    "slow_extractor",
    "llm_extractor",
)
# One measurement that does not finish in this long is reported as failed; a full run of all
# of them takes a few minutes on 2 cores.
MEASUREMENT_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class Plan:
    load: LoadSpec
    fractions: tuple[float, ...]
    freshness_s: float
    naive_budget_s: float
    lengths: list[int]
    pending: list[int]
    # Events arriving while PostgreSQL is stopped, and for how long it is.
    outage_events: int
    outage_s: float


FULL = Plan(
    load=LoadSpec(users=200, topics=2000, messages_per_topic=20),
    fractions=(0.25, 0.5, 0.75),
    freshness_s=20.0,
    naive_budget_s=20.0,
    lengths=[10, 100, 1000, 10_000],
    pending=[1000, 10_000, 100_000],
    outage_events=200_000,
    outage_s=60.0,
)
QUICK = Plan(
    load=LoadSpec(users=50, topics=400, messages_per_topic=20),
    fractions=(0.25, 0.5, 0.75),
    freshness_s=6.0,
    naive_budget_s=6.0,
    lengths=[10, 100, 1000],
    pending=[1000, 10_000],
    outage_events=20_000,
    outage_s=10.0,
)


def say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small loads: a smoke run in ~2 min")
    parser.add_argument(
        "--only",
        action="append",
        choices=MEASUREMENTS,
        metavar="NAME",
        help=f"run only these ({', '.join(MEASUREMENTS)}); repeatable",
    )
    parser.add_argument("--keep-stack", action="store_true", help="leave the bench stack running")
    parser.add_argument("--results", type=Path, default=report.RESULTS_DIR, help="output directory")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    wanted = set(args.only or MEASUREMENTS)
    with bench_stack(keep=args.keep_stack) as stack:
        results = run(stack, plan, wanted, args.seed, args.results, quick=args.quick)
    summarise(results, args.results)
    return 0


def run(
    stack: Any, plan: Plan, wanted: set[str], seed: int, out: Path, quick: bool
) -> dict[str, Any]:
    spec = LoadSpec(**{**plan.load.describe(), "seed": seed})  # type: ignore[arg-type]
    described = machine(stack.admin_database_url)
    header = {
        "machine": described,
        "mode": "quick" if quick else "full",
        "load": spec.describe(),
        "settings": {
            "debounce_ms": pipeline.BENCH_DEBOUNCE_MS,
            "max_delay_ms": pipeline.BENCH_MAX_DELAY_MS,
            "batch_size": 1000,
            "partitions": 6,
        },
    }
    results: dict[str, Any] = {"machine": described, "header": header}
    say(f"machine: {described}")
    events = generate(spec)
    n_events, n_topics, n_messages = len(events), spec.topics, distinct_messages(events)
    topic = fresh_topic(stack.bootstrap, "backlog")
    started = time.monotonic()
    publish_backlog(stack.bootstrap, topic, events)
    say(
        f"published {n_events} events ({n_topics} topics, {n_messages} messages) "
        f"to {topic} in {time.monotonic() - started:.1f}s"
    )

    one_target = None
    if wanted & {"throughput", "replay", "freshness"}:
        one_target = pipeline.new_target(stack, topic, "one")
        one = pipeline.throughput(one_target, 1, n_events, n_topics, MEASUREMENT_TIMEOUT_S)
        results["throughput"] = {"one": one}
        say(
            f"cardwright, 1 member: {one['events_per_s']:,.0f} events/s ({one['seconds']}s, "
            f"{one['runs_per_topic']} runs per topic)"
        )
        results["floor"] = floor.measure(one_target.database_url, n_events)
        say(
            f"extraction floor ({results['floor']['extractor']} alone, in-process): "
            f"{results['floor']['events_per_s']:,.0f} events/s"
        )
        report.write(out, "floor", header, results["floor"])
    if "throughput" in wanted:
        two = pipeline.throughput(
            pipeline.new_target(stack, topic, "two"), 2, n_events, n_topics, MEASUREMENT_TIMEOUT_S
        )
        results["throughput"]["two"] = two
        say(f"cardwright, 2 members: {two['events_per_s']:,.0f} events/s ({two['seconds']}s)")
        report.write(out, "throughput", header, results["throughput"])
    if "replay" in wanted and one_target is not None:
        results["replay"] = pipeline.replay(one_target, n_events, n_topics, MEASUREMENT_TIMEOUT_S)
        say(
            f"no-op replay: {results['replay']['events_per_s']:,.0f} events/s "
            f"({results['replay']['new_runs']} new runs)"
        )
        report.write(out, "replay", header, results["replay"])
    if "freshness" in wanted:
        maximum = results["throughput"]["one"]["events_per_s"]
        loads = []
        for fraction in plan.fractions:
            target = pipeline.new_target(stack, fresh_topic(stack.bootstrap, "paced"), "fresh")
            row = freshness.measure(
                target, maximum * fraction, plan.freshness_s, seed, MEASUREMENT_TIMEOUT_S
            )
            row["fraction"] = fraction
            loads.append(row)
            say(
                f"freshness at {fraction:.2f} x max ({row['offered_events_per_s']:,.0f}/s): "
                f"p50 {row['p50_ms']:,.0f} ms, p95 {row['p95_ms']:,.0f} ms, "
                f"p99 {row['p99_ms']:,.0f} ms"
            )
        results["freshness"] = {"max_events_per_s": maximum, "loads": loads}
        report.write(out, "freshness", header, results["freshness"])
    if "references" in wanted:
        raw = references.raw_consume(stack.bootstrap, topic, n_events, MEASUREMENT_TIMEOUT_S)
        say(f"raw consume: {raw['events_per_s']:,.0f} events/s")
        copy = references.raw_copy(fresh_database(stack.admin_database_url, "copy"), events)
        say(f"raw COPY: {copy['events_per_s']:,.0f} events/s ({copy['rows_per_s']:,.0f} rows/s)")
        naive = references.naive(
            stack.bootstrap,
            topic,
            fresh_database(stack.admin_database_url, "naive"),
            n_events,
            plan.naive_budget_s,
        )
        say(f"naive consumer: {naive['events_per_s']:,.0f} events/s ({naive['events']} events)")
        limit = references.serial_limit(raw["events_per_s"], copy["events_per_s"])
        results["references"] = {
            "raw_consume": raw,
            "raw_copy": copy,
            "raw_limit_events_per_s": round(limit, 1),
            "raw_limit_is": "consume then COPY on one thread: 1 / (1/consume + 1/COPY)",
            "naive": naive,
        }
        report.write(out, "references", header, results["references"])
    if "peer" in wanted:
        results["peer"] = peer.measure(stack, topic, n_events, n_messages, MEASUREMENT_TIMEOUT_S)
        if results["peer"]["ran"]:
            say(f"Quix Streams peer: {results['peer']['events_per_s']:,.0f} events/s")
        else:
            say(f"Quix Streams peer did not run: {results['peer']['why']}")
        report.write(out, "peer", header, results["peer"])
    later: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
        ("outage", lambda: database_outage(stack, plan, seed)),
        ("slow_extractor", lambda: slow_extractor_rate(stack)),
        ("llm_extractor", lambda: llm_extractor_rate(stack)),
    )
    for name, measure in later:
        if name in wanted:
            results[name] = measure()
            report.write(out, name, header, results[name])
    in_process(results, wanted, plan, seed, header, out)
    return results


def database_outage(stack: Any, plan: Plan, seed: int) -> dict[str, Any]:
    row = outage.measure(stack, plan.outage_events, plan.outage_s, seed, MEASUREMENT_TIMEOUT_S)
    say(
        f"PostgreSQL stopped {row['outage_s']:.0f}s while {row['events']:,} events arrived: "
        f"member peak RSS {row['peak_rss_mb']} MB (before {row['rss_before_mb']} MB); "
        f"caught up {row['caught_up_after_restart_s']}s after the restart"
    )
    return row


def slow_extractor_rate(stack: Any) -> dict[str, Any]:
    found = slow_extractor.measure(stack, MEASUREMENT_TIMEOUT_S)
    say(
        f"slow extractor ({found['sleep_s']} s a topic, {found['concurrency']} slots): "
        f"{found['topics_per_s']} topics/s, {found['ratio']} x ideal"
    )
    return found


def llm_extractor_rate(stack: Any) -> dict[str, Any]:
    found = llm_extractor.measure(stack, MEASUREMENT_TIMEOUT_S)
    say(
        f"llm extractor ({found['latency_s']} s a call, {found['concurrency']} slots): "
        f"{found['topics_per_s']} topics/s, {found['ratio']} x ideal; {found['calls']} calls, "
        f"{found['prompt_tokens']} prompt + {found['completion_tokens']} completion tokens"
    )
    return found


def in_process(
    results: dict[str, Any],
    wanted: set[str],
    plan: Plan,
    seed: int,
    header: dict[str, Any],
    out: Path,
) -> None:
    """The measurements that need no stack: extraction cost, pending memory, extractors."""
    if "cost" in wanted:
        results["cost"] = cost.extraction_cost(plan.lengths)
        for row in results["cost"]:
            say(
                f"topic of {row['messages']:>6} messages: hash {row['hash_ms']:.3f} ms, "
                f"extract again {row['extract_ms']:.3f} ms, "
                f"first {row['extract_first_ms']:.3f} ms"
            )
        report.write(out, "cost", header, results["cost"])
    if "memory" in wanted:
        results["memory"] = cost.pending_memory(plan.pending)
        for row in results["memory"]:
            say(
                f"{row['pending_topics']:>7} pending topics: RSS {row['rss_mb']} MB "
                f"({row['bytes_per_topic']} B/topic over a {row['baseline_mb']} MB baseline)"
            )
        report.write(out, "memory", header, results["memory"])
    if "extractors" in wanted:
        results["extractors"] = extractors(seed)
        report.write(out, "extractors", header, results["extractors"])


def extractors(seed: int) -> dict[str, Any]:
    """rules@1 and rules@2 side by side, in-process: speed per new text, precision and recall
    per kind on the labelled set (tests/labeled), and rules@2's time on adversarial 32 KiB texts."""
    found = {"speed": extractor_quality.speed(seed), "quality": extractor_quality.quality()}
    say(f"rules@2 / rules@1 speed per new text: {found['speed']['text']['ratio']} x")
    lines = extractor_quality.linearity()
    worst = max(row["ms_32KiB"] for row in lines.values())
    found["linearity_rules2"] = {"worst_ms_32KiB": worst, "families": lines}
    say(f"rules@2 slowest adversarial 32 KiB text: {worst} ms (bound 20 ms)")
    return found


def summarise(results: dict[str, Any], out: Path) -> None:
    found = report.ratios(results)
    checks = report.targets(results, found)
    say("\nratios (same run, same topic):")
    for name, value in found.items():
        say(f"  {name:<28} {value:8.3f}")
    say("targets:")
    for row in checks:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        say(f"  {row['target']:<50} {report.fmt(row['measured']):>10}  {verdict}")
    report.write(
        out,
        "summary",
        results["header"],
        {"ratios": found, **report.figures(results), "targets": checks},
    )
    png = report.plot(results, out / "plot.png")
    say(f"results in {out}" + (f", plot {png}" if png else " (no matplotlib: no plot)"))


if __name__ == "__main__":
    sys.exit(main())
