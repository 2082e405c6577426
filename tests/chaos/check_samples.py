"""Checks of what the concurrent reader saw, sample by sample, topic by topic.

A sample is sound when its cards all belong to the topic's current run, there are exactly the
run's card count of them at positions 0..n-1 with the ids that run's source hash gives, and
their content is the extractor's output for an input state the topic really had (its hash is
in the model's sequence of states). Across samples of one topic the states must never go back:
each sample is mapped to the earliest position of its state in the sequence at or after the
previous sample's position (the sequence may revisit a state, A -> B -> A); no such position
means the reader saw an older card set after a newer one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.chaos.anomalies import Findings
from tests.chaos.expected import ExpectedCards
from tests.chaos.model import Model, TopicModel

# Regressions reported per topic: the first few explain it, the rest would repeat them.
REPORTS_PER_TOPIC = 3


def check_samples(
    samples: list[dict[str, Any]], model: Model, expect: ExpectedCards, findings: Findings
) -> dict[str, int]:
    by_topic: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        by_topic[(sample["user"], sample["topic"])].append(sample)
    stats = {"samples": len(samples), "topics": len(by_topic), "with_cards": 0}
    for key, series in by_topic.items():
        series.sort(key=lambda s: s["t"])
        stats["with_cards"] += _check_series(key, series, model.topics.get(key), expect, findings)
    stats["states_extracted"] = expect.states_extracted
    return stats


def _check_series(
    key: tuple[str, str],
    series: list[dict[str, Any]],
    topic: TopicModel | None,
    expect: ExpectedCards,
    findings: Findings,
) -> int:
    position = -1  # where in the topic's state sequence the last sample was; -1: no cards yet
    previous: str | None = None
    reported = 0
    with_cards = 0
    for sample in series:
        run = sample["run"]
        if run is None:
            if sample["cards"]:
                findings.add("mixed_card_set", topic=key, t=sample["t"], problem="cards, no run")
            elif position >= 0 and reported < REPORTS_PER_TOPIC:
                reported += 1
                findings.add("regressing_card_set", topic=key, t=sample["t"], to="no cards")
            continue
        with_cards += 1
        if not _sound(key, sample, run, expect, findings):
            continue
        source_hash = run[1]
        if topic is None or source_hash not in topic.inputs:
            findings.add("foreign_card_set", topic=key, t=sample["t"], source_hash=source_hash)
            continue
        if sample["digest"] != expect.digest(topic, source_hash):
            findings.add(
                "foreign_card_set",
                topic=key,
                t=sample["t"],
                problem="cards are not the extractor's output for their input",
            )
            continue
        if topic.split:
            # Any mix of its two partitions' prefixes, in no one order (model docstring).
            continue
        later = [i for i, h in enumerate(topic.hashes) if h == source_hash and i >= position]
        if later:
            position, previous = later[0], source_hash
            continue
        if reported < REPORTS_PER_TOPIC:
            reported += 1
            findings.add(
                "regressing_card_set",
                topic=key,
                t=sample["t"],
                from_state=position,
                to_state=topic.hashes.index(source_hash),
                from_hash=previous,
                to_hash=source_hash,
            )
        position, previous = topic.hashes.index(source_hash), source_hash
    return with_cards


def _sound(
    key: tuple[str, str],
    sample: dict[str, Any],
    run: list[Any],
    expect: ExpectedCards,
    findings: Findings,
) -> bool:
    run_id, source_hash, card_count = run
    cards = sample["cards"]
    foreign_runs = sorted({c[1] for c in cards} - {run_id})
    if foreign_runs or sample["cards_hash"] != source_hash:
        findings.add(
            "mixed_card_set",
            topic=key,
            t=sample["t"],
            current_run=run_id,
            other_runs=foreign_runs,
            cards_hash=sample["cards_hash"],
            run_hash=source_hash,
        )
        return False
    positions = [c[2] for c in cards]
    ids = [c[0] for c in cards]
    if positions != list(range(card_count)) or ids != expect.card_ids(
        *key, source_hash, card_count
    ):
        findings.add(
            "torn_card_set",
            topic=key,
            t=sample["t"],
            run=run_id,
            run_card_count=card_count,
            positions=positions,
        )
        return False
    return True
