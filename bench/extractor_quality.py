"""rules@1 against rules@2, side by side: speed on new texts, linearity, labelled-set quality.

- speed: fresh loadgen texts (about 240 bytes, never seen), in alternating rounds so both
  versions see the same machine load. ``rules2/rules1_speed`` is rules@1's time per new text
  over rules@2's for the per-text work (the issue's measure); ``rules2/rules1_speed_extract``
  the same for extract() of one-message topics, which adds costs both versions share.
- linearity: rules@2's median time (of 5) on each adversarial 32 KiB family of
  bench/linearity.py and a few aimed at its own patterns (the issue's bound is 20 ms), with its
  growth per KiB from 1 to 32 KiB (about 1 when linear).
- quality: precision and recall per card kind on tests/labeled (tests/labeled/score.py).

    python -m bench.extractor_quality    # table on stdout, JSON in bench/results/extractors.json
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import string
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench import report
from bench.linearity import FAMILIES
from bench.loadgen import BASE_TIME, _text
from cardwright.extractors.rules import RulesExtractor
from cardwright.extractors.rules import _read_text as read_text_v1
from cardwright.extractors.rules2.extractor import read_text
from cardwright.schema.cards import LiveMessage, TopicSnapshot
from tests.labeled import score

ROUNDS = 9
TEXTS_PER_ROUND = 400
_REPEATS_32K = 5


def _topics(rng: random.Random, count: int) -> list[TopicSnapshot]:
    topics = []
    for i in range(count):
        # Unique, so no remembered findings help; letters, so the marker adds no digits to scan.
        marker = "".join(rng.choice(string.ascii_lowercase) for _ in range(10))
        text = f"{_text(rng, 240)} {marker}"
        message = LiveMessage(f"m{i}", "user", BASE_TIME + timedelta(seconds=i), text)
        topics.append(TopicSnapshot("u", f"t{i}", "c", 1, (message,)))
    return topics


def speed(seed: int = 1) -> dict[str, Any]:
    """Two figures per version, each the median over rounds of back-to-back runs:

    - ``text``: the per-text work a new text costs (what the issue's "200 us per new text"
      measured: masking, sentences, statements, dates, entities), without the memo;
    - ``extract``: ``extract()`` of a one-message topic of a new text: the same plus the
      topic's merge, the memo's bookkeeping and pydantic's validation of each CardDraft, which
      both versions pay alike.
    """
    rng = random.Random(seed)
    extractors = {"rules@1": RulesExtractor(), "rules@2": RulesExtractor(version="2")}
    readers = {"rules@1": read_text_v1, "rules@2": read_text}
    times: dict[str, dict[str, list[float]]] = {"text": {}, "extract": {}}
    for round_number in range(ROUNDS):
        order = list(extractors) if round_number % 2 == 0 else list(reversed(extractors))
        for name in order:
            topics = _topics(rng, TEXTS_PER_ROUND)
            texts = [topic.messages[0].text for topic in topics]
            started = time.perf_counter()
            for text in texts:
                readers[name](text)
            times["text"].setdefault(name, []).append(_per(started, texts))
            started = time.perf_counter()
            for topic in topics:
                extractors[name].extract(topic)
            times["extract"].setdefault(name, []).append(_per(started, topics))
    found: dict[str, Any] = {"rounds": ROUNDS, "texts_per_round": TEXTS_PER_ROUND}
    for what, per_version in times.items():
        # A round's two runs share the machine's load of the moment, so ratios are per round.
        ratios = [
            a / b for a, b in zip(per_version["rules@1"], per_version["rules@2"], strict=True)
        ]
        found[what] = {
            "us_per_new_text": {
                name: round(statistics.median(values) * 1e6, 1)
                for name, values in per_version.items()
            },
            "ratio_per_round": [round(r, 2) for r in ratios],
            "ratio": round(statistics.median(ratios), 2),
        }
    return found


def _per(started: float, items: list[Any]) -> float:
    return (time.perf_counter() - started) / len(items)


# Beyond bench/linearity.py's families: inputs aimed at rules@2's own patterns.
EXTRA_FAMILIES: dict[str, Callable[[int], str]] = {
    "titles": lambda n: ("Dr. " * n)[:n],
    "numbers_spaced": lambda n: ("14 " * n)[:n],
    "ordinals": lambda n: ("the 1st " * n)[:n],
    "particles": lambda n: ("Alice von " * n)[:n],
    "quote_markers": lambda n: ("> " * n)[:n],
    "it_is": lambda n: ("it is " * n)[:n],
    "keywords": lambda n: ("we decided tomorrow I'll " * n)[:n],
}


def linearity() -> dict[str, dict[str, float]]:
    rows = {}
    for name, make in {**FAMILIES, **EXTRA_FAMILIES}.items():
        small, large = make(1024), make(32 * 1024)
        rows[name] = {
            "ms_32KiB": round(_median_s(large) * 1000, 2),
            "growth_1_to_32KiB": round(_median_s(large) / (32 * _median_s(small)), 2),
        }
    return rows


def _median_s(text: str) -> float:
    times = []
    for _ in range(_REPEATS_32K):
        started = time.perf_counter()
        read_text(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def quality() -> dict[str, Any]:
    conversations = score.load()
    found = {}
    for spec in ("rules@1", "rules@2"):
        result = score.score(RulesExtractor(version=spec.split("@")[1]), conversations)
        found[spec] = {"kinds": result["kinds"], "overall": result["overall"]}
        print(score.table(spec, result))
    return found


def main() -> None:
    measured_speed = speed()
    for what in ("text", "extract"):
        row = measured_speed[what]
        print(f"{what}: us per new text {row['us_per_new_text']}, rules@1/rules@2 {row['ratio']}")
    lines = linearity()
    worst = max(row["ms_32KiB"] for row in lines.values())
    print(f"rules@2 slowest 32 KiB family: {worst} ms")
    body = {
        "ratios": {
            "rules2/rules1_speed": measured_speed["text"]["ratio"],
            "rules2/rules1_speed_extract": measured_speed["extract"]["ratio"],
        },
        "speed": measured_speed,
        "linearity_rules2": {"worst_ms_32KiB": worst, "families": lines},
        "quality": quality(),
    }
    described = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # shared machine: figures drift
    }
    report.write(report.RESULTS_DIR, "extractors", {"machine": described}, body)


if __name__ == "__main__":
    main()
