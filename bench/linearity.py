"""How the rules extractor's time grows with one message's size, on adversarial texts.

Each family is a worst case for some pattern or loop (a run of dots before a letter made the
sentence splitter backtrack quadratically). For sizes 1 to 32 KiB it times the pure per-message
work (``_read_text``, bypassing the memo) and prints milliseconds per KiB; ``growth`` is the cost
per KiB at 32 KiB over the cost per KiB at 1 KiB: about 1 when the work is linear, about 32 when
it is quadratic. ``tail`` is the same from 8 to 32 KiB (about 1 against about 4), less blurred by
small sizes' cache effects on a busy machine. A size that takes longer than ``_GIVE_UP_S`` ends
its family (marked null).

    python -m bench.linearity            # table on stdout, JSON in bench/results/linearity.json
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Callable

import orjson

from bench.environment import REPO_ROOT
from cardwright.extractors.rules import _read_text

SIZES_KIB = (1, 2, 4, 8, 16, 32)
_TIME_BUDGET_S = 0.5
_MIN_REPEATS = 3
_GIVE_UP_S = 3.0


def _cycle(unit: str, size: int) -> str:
    return "".join(itertools.islice(itertools.cycle(unit), size))


# name -> text of exactly ``size`` characters
FAMILIES: dict[str, Callable[[int], str]] = {
    "dots_then_letter": lambda n: "." * (n - 1) + "a",
    "spaces_then_letter": lambda n: " " * (n - 1) + "a",
    "newlines": lambda n: "\n" * n,
    "digits": lambda n: "1" * n,
    "capitals": lambda n: "A" * n,
    "capital_words": lambda n: _cycle("Alice Bob Acme ", n),
    "letter_a": lambda n: "a" * n,
    "http_repeated": lambda n: _cycle("http://", n),
    "url_then_closers": lambda n: "http://x.io/" + ")" * (n - 12),
    "emoji": lambda n: "😀" * n,
    "mixed_punctuation": lambda n: _cycle(".!?…\"')]。！？,;:-*#@`(/", n),
    "dotted_initials": lambda n: _cycle("a.", n),
    "backticks": lambda n: _cycle("`a", n),
    "unclosed_inline_code": lambda n: _cycle("`" + "a" * 499, n),
    "bullet_dashes": lambda n: "-" * (n - 1) + "a",
    "keyword_then_spaces": lambda n: "we" + " " * (n - 3) + "x",
    "closers_then_letter": lambda n: "." + ")" * (n - 2) + "a",
}


def _median_s(text: str) -> float:
    times: list[float] = []
    spent = 0.0
    while len(times) < _MIN_REPEATS or spent < _TIME_BUDGET_S:
        started = time.perf_counter()
        _read_text(text)
        took = time.perf_counter() - started
        times.append(took)
        spent += took
        if took > _GIVE_UP_S or len(times) >= 200:
            break
    return statistics.median(times)


def measure() -> dict[str, dict[str, float | None]]:
    results: dict[str, dict[str, float | None]] = {}
    for name, make in FAMILIES.items():
        row: dict[str, float | None] = {}
        gave_up = False
        for kib in SIZES_KIB:
            if gave_up:
                row[f"{kib}KiB"] = None
                continue
            took = _median_s(make(kib * 1024))
            row[f"{kib}KiB"] = round(took * 1000 / kib, 4)
            gave_up = took > _GIVE_UP_S
        first, last = row["1KiB"], row[f"{SIZES_KIB[-1]}KiB"]
        row["growth"] = round(last / first, 2) if first and last is not None else None
        mid = row["8KiB"]
        row["tail"] = round(last / mid, 2) if mid and last is not None else None
        results[name] = row
    return results


def _table(results: dict[str, dict[str, float | None]]) -> str:
    sizes = [f"{k}KiB".rjust(9) for k in SIZES_KIB]
    head = ["family".ljust(22), *sizes, "growth".rjust(8), "tail".rjust(8)]
    lines = [" ".join(head), "ms per KiB of one message:"]
    for name, row in results.items():
        cells = [name.ljust(22)]
        for key in [*(f"{k}KiB" for k in SIZES_KIB), "growth", "tail"]:
            value = row[key]
            width = 8 if key in ("growth", "tail") else 9
            cells.append(("-" if value is None else f"{value:.3f}").rjust(width))
        lines.append(" ".join(cells))
    return "\n".join(lines)


def main() -> None:
    results = measure()
    print(_table(results))
    if "--no-save" not in sys.argv:
        path = REPO_ROOT / "bench" / "results" / "linearity.json"
        report = {"measurement": "linearity", "families": results}
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")


if __name__ == "__main__":
    main()
