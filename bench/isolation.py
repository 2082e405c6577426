"""What running the extractor in a child process costs: the per-extraction hop and a (re)start.

For topics of 1, 20 and 200 messages it times the rules extractor in this process and through
``IsolatedRunner`` (pickled snapshot down a pipe, drafts back), both warm (each side's memo
already holds the texts), and reports the difference per extraction. ``start_ms`` is what the
first extraction after a kill pays: a new interpreter, its imports, loading the extractor.

    python -m bench.isolation       # table on stdout, JSON in bench/results/isolation.json
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import orjson

from bench.cost import snapshot
from bench.environment import REPO_ROOT
from cardwright.extractors.isolation import IsolatedRunner
from cardwright.extractors.rules import RulesExtractor

LENGTHS = (1, 20, 200)
_REPEATS = 50
_STARTS = 5
_TIMEOUT_S = 30.0


def _median_ms(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


def measure() -> dict[str, object]:
    rules = RulesExtractor()
    runner = IsolatedRunner("rules")
    hops: dict[str, dict[str, float]] = {}
    try:
        for length in LENGTHS:
            snap = snapshot(length)
            rules.extract(snap)
            runner.run(snap, _TIMEOUT_S)
            in_process = _median_ms(lambda s=snap: rules.extract(s), _REPEATS)  # type: ignore[misc]
            isolated = _median_ms(lambda s=snap: runner.run(s, _TIMEOUT_S), _REPEATS)  # type: ignore[misc]
            hops[f"{length}_messages"] = {
                "in_process_ms": in_process,
                "isolated_ms": isolated,
                "hop_ms": round(isolated - in_process, 3),
            }
    finally:
        runner.close()
    one = snapshot(1)

    def start() -> None:
        fresh = IsolatedRunner("rules")
        try:
            fresh.run(one, _TIMEOUT_S)
        finally:
            fresh.close()

    return {"hop": hops, "start_ms": _median_ms(start, _STARTS)}


def main() -> None:
    results = measure()
    hops = results["hop"]
    assert isinstance(hops, dict)
    print(f"{'topic':14} {'in process':>12} {'isolated':>10} {'hop':>8}  (ms, median, warm)")
    for name, row in hops.items():
        print(
            f"{name:14} {row['in_process_ms']:12.3f} {row['isolated_ms']:10.3f}"
            f" {row['hop_ms']:8.3f}"
        )
    print(f"start (new child, first extraction of 1 message): {results['start_ms']:.1f} ms")
    if "--no-save" not in sys.argv:
        path = REPO_ROOT / "bench" / "results" / "isolation.json"
        report = {"measurement": "isolation", **results}
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")


if __name__ == "__main__":
    main()
