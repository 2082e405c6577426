"""Results: one JSON per measurement under bench/results/, the ratios, the targets, the plot.

Absolute figures drift on shared machines, so the summary is ratios between systems measured
in the same run, and every file names the machine it came from.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

RESULTS_DIR = Path(__file__).parent / "results"


def write(directory: Path, name: str, run: dict[str, Any], body: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    document = {
        "measurement": name,
        **run,
        "written_at": datetime.now(UTC).isoformat(),
        "results": body,
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def _rate(results: dict[str, Any], *path: str) -> float | None:
    node: Any = results
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) and node > 0 else None


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """cardwright (one member) against each reference measured in this run."""
    found: dict[str, float] = {}
    speed = results.get("extractors", {}).get("speed", {}).get("text", {}).get("ratio")
    if speed:
        found["rules2/rules1_speed"] = float(speed)
    slow = results.get("slow_extractor", {}).get("ratio")
    if slow:
        found["slow_extractor/ideal"] = float(slow)
    llm = results.get("llm_extractor", {}).get("ratio")
    if llm:
        found["llm/ideal"] = float(llm)
    ours = _rate(results, "throughput", "one", "events_per_s")
    if ours is None:
        return found
    pairs = {
        "cardwright/raw_limit": _rate(results, "references", "raw_limit_events_per_s"),
        "cardwright/raw_consume": _rate(results, "references", "raw_consume", "events_per_s"),
        "cardwright/raw_copy": _rate(results, "references", "raw_copy", "events_per_s"),
        "cardwright/naive": _rate(results, "references", "naive", "events_per_s"),
        "cardwright/peer": _rate(results, "peer", "events_per_s"),
    }
    found |= {name: round(ours / theirs, 3) for name, theirs in pairs.items() if theirs}
    two = _rate(results, "throughput", "two", "events_per_s")
    if two:
        found["two_members/one_member"] = round(two / ours, 3)
    runs = _rate(results, "throughput", "one", "runs_per_topic")
    if runs:
        found["runs_per_topic/backlog"] = runs
    floor = _rate(results, "floor", "events_per_s")
    if floor:
        found["cardwright/extraction_floor"] = round(ours / floor, 3)
    replay = _rate(results, "replay", "events_per_s")
    raw = _rate(results, "references", "raw_consume", "events_per_s")
    if replay and raw:
        found["noop_replay/raw_consume"] = round(replay / raw, 3)
    return found


def figures(results: dict[str, Any]) -> dict[str, float]:
    """Single figures the summary carries next to the ratios."""
    found: dict[str, float] = {}
    half = _half_load(results)
    if half is not None:
        found["freshness_p99_half_load_ms"] = half["p99_ms"]
    rss = _rate(results, "outage", "peak_rss_mb")
    if rss is not None:
        found["rss_outage_mb"] = rss
    return found


def _half_load(results: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            row
            for row in results.get("freshness", {}).get("loads", [])
            if row.get("fraction") == 0.5
        ),
        None,
    )


def targets(results: dict[str, Any], found: dict[str, float]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured value and whether it is met."""
    checks: list[tuple[str, float | None, float, str]] = [
        ("end-to-end / raw limit", found.get("cardwright/raw_limit"), 0.6, ">="),
        ("end-to-end / naive", found.get("cardwright/naive"), 20.0, ">="),
        ("end-to-end / Quix Streams peer", found.get("cardwright/peer"), 1.5, ">="),
        ("no-op replay events/s", _rate(results, "replay", "events_per_s"), 100_000, ">="),
        ("runs per topic on a backlog", found.get("runs_per_topic/backlog"), 1.05, "<="),
        ("end-to-end / extraction floor", found.get("cardwright/extraction_floor"), 0.6, ">="),
        ("no-op replay / raw consume", found.get("noop_replay/raw_consume"), 0.25, ">="),
        ("slow extractor topics/s / ideal", found.get("slow_extractor/ideal"), 0.8, ">="),
        ("llm extractor topics/s / ideal", found.get("llm/ideal"), 0.8, ">="),
        (
            "peak RSS through a database outage (MB)",
            _rate(results, "outage", "peak_rss_mb"),
            300,
            "<=",
        ),
    ]
    half = _half_load(results)
    if half is not None:
        checks.append(
            ("p99 freshness at half load (ms)", half["p99_ms"], half["debounce_ms"] + 150, "<=")
        )
    memory = results.get("memory", [])
    if memory:
        checks.append(("RSS at most pending topics (MB)", memory[-1]["rss_mb"], 300, "<="))
    rows = []
    for name, value, bound, sense in checks:
        met = None if value is None else (value >= bound if sense == ">=" else value <= bound)
        rows.append({"target": f"{name} {sense} {bound:g}", "measured": value, "met": met})
    return rows


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """Throughput bars, freshness against load, cost against topic length and pending topics."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(2, 2, figsize=(12, 9))
    bars = {
        "cardwright x1": _rate(results, "throughput", "one", "events_per_s"),
        "cardwright x2": _rate(results, "throughput", "two", "events_per_s"),
        "no-op replay": _rate(results, "replay", "events_per_s"),
        "raw consume": _rate(results, "references", "raw_consume", "events_per_s"),
        "raw COPY": _rate(results, "references", "raw_copy", "events_per_s"),
        "raw limit": _rate(results, "references", "raw_limit_events_per_s"),
        "naive": _rate(results, "references", "naive", "events_per_s"),
        "Quix peer": _rate(results, "peer", "events_per_s"),
    }
    shown = {k: v for k, v in bars.items() if v}
    ax = axes[0][0]
    ax.barh(list(shown), list(shown.values()), color="#4477aa")
    ax.set_xscale("log")
    ax.set_xlabel("events/s (log)")
    ax.set_title("Throughput, same topic, same run")
    for y, value in enumerate(shown.values()):
        ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)

    ax = axes[0][1]
    loads = results.get("freshness", {}).get("loads", [])
    if loads:
        offered = [row["offered_events_per_s"] for row in loads]
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            ax.plot(offered, [row[key] for row in loads], marker="o", label=key.split("_")[0])
        ax.axhline(
            loads[0]["debounce_ms"] + 100, color="grey", linestyle="--", label="debounce + 100 ms"
        )
        ax.legend()
    ax.set_xlabel("offered events/s")
    ax.set_ylabel("produce → cards commit (ms)")
    ax.set_title("Freshness against offered load")

    ax = axes[1][0]
    cost = results.get("cost", [])
    if cost:
        lengths = [row["messages"] for row in cost]
        ax.loglog(lengths, [row["hash_ms"] for row in cost], marker="o", label="source hash")
        ax.loglog(
            lengths,
            [row["extract_first_ms"] for row in cost],
            marker="o",
            label="rules extraction, new texts",
        )
        ax.loglog(
            lengths, [row["extract_ms"] for row in cost], marker="o", label="rules, re-extraction"
        )
        ax.legend()
    ax.set_xlabel("messages in the topic")
    ax.set_ylabel("ms per extraction")
    ax.set_title("Cost per extraction against topic length")

    ax = axes[1][1]
    memory = results.get("memory", [])
    if memory:
        ax.semilogx(
            [row["pending_topics"] for row in memory], [row["rss_mb"] for row in memory], marker="o"
        )
        ax.axhline(300, color="grey", linestyle="--", label="300 MB target")
        ax.legend()
    ax.set_xlabel("pending topics")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("Member memory against pending topics")
    machine = results.get("machine", {})
    figure.suptitle(
        f"cardwright bench: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"Kafka {machine.get('kafka', '?')}, PostgreSQL {machine.get('postgresql', '?')}"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
