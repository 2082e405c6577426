"""Scores an extractor on the labelled conversations: precision and recall per card kind.

A produced card matches an expected one when kind and normalised key agree. Keys: statements
(question, decision, preference, action item) are the sentence, compared by their words (case
and punctuation aside); people, places, organisations by their words too ("Dr Brown" is "Dr.
Brown"); links as the URL; dates by the ISO form in the title ("2026-03-05", "2026-03-05 15:00",
"2026-W11", "2027-06", "15:00"), so a date that is not normalised never matches. ``cited``
is the share of matched cards whose message ids are exactly the expected ones.

    python -m tests.labeled.score rules@1 rules@2
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from cardwright.extractors.base import Extractor, load_extractor
from cardwright.schema.cards import CardDraft, CardKind, LiveMessage, TopicSnapshot

PATH = Path(__file__).with_name("conversations.jsonl")
_STATEMENTS = {CardKind.QUESTION, CardKind.DECISION, CardKind.PREFERENCE, CardKind.ACTION_ITEM}
_ISO_RE = re.compile(r"\d{4}-(?:W\d\d|\d\d(?:-\d\d)?)(?:[ T]\d\d:\d\d)?|\b\d\d:\d\d\b")
_WORD_RE = re.compile(r"\w+")


def load(path: Path = PATH) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def snapshot(conversation: dict[str, Any]) -> TopicSnapshot:
    messages = tuple(
        LiveMessage(m["id"], "user", datetime.fromisoformat(m["created_at"]), m["text"])
        for m in conversation["messages"]
    )
    cid = conversation["id"]
    return TopicSnapshot("labeled", cid, cid, 1, messages)


def key(kind: CardKind, text: str) -> str:
    if kind is CardKind.DATE:
        found = _ISO_RE.search(text)
        return found.group().replace("T", " ") if found else "?" + text.casefold()
    if kind is CardKind.LINK:
        return text.rstrip("/")
    return " ".join(_WORD_RE.findall(text.casefold()))


def card_key(card: CardDraft) -> str:
    return key(card.kind, card.body if card.kind in _STATEMENTS else card.title)


def score(extractor: Extractor, conversations: Iterable[dict[str, Any]]) -> dict[str, Any]:
    counts = {kind: {"tp": 0, "fp": 0, "fn": 0, "cited": 0} for kind in CardKind}
    misses: list[str] = []
    for conversation in conversations:
        produced = {(c.kind, card_key(c)): c for c in extractor.extract(snapshot(conversation))}
        expected = {
            (CardKind(kind), key(CardKind(kind), item["key"])): tuple(item["message_ids"])
            for kind, items in conversation["expected"].items()
            for item in items
        }
        for pair, ids in expected.items():
            card = produced.get(pair)
            if card is None:
                counts[pair[0]]["fn"] += 1
                misses.append(f"{conversation['id']} missed {pair[0].value} {pair[1]!r}")
            else:
                counts[pair[0]]["tp"] += 1
                counts[pair[0]]["cited"] += card.message_ids == ids
        for pair in produced.keys() - expected.keys():
            counts[pair[0]]["fp"] += 1
            misses.append(f"{conversation['id']} wrong {pair[0].value} {pair[1]!r}")
    kinds = {kind.value: _rates(row) for kind, row in counts.items() if any(row.values())}
    total = {
        name: sum(row[name] for row in counts.values()) for name in ("tp", "fp", "fn", "cited")
    }
    return {"kinds": kinds, "overall": _rates(total), "errors": misses}


def _rates(row: dict[str, int]) -> dict[str, float | int]:
    tp, fp, fn = row["tp"], row["fp"], row["fn"]
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0,
        "cited": round(row["cited"] / tp, 3) if tp else 1.0,
        **row,
    }


def table(name: str, result: dict[str, Any]) -> str:
    lines = [f"{name}: kind precision recall (tp fp fn)"]
    for kind, row in [*result["kinds"].items(), ("overall", result["overall"])]:
        lines.append(
            f"  {kind:<13} {row['precision']:.3f} {row['recall']:.3f} "
            f"({row['tp']} {row['fp']} {row['fn']})"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    conversations = load()
    for spec in argv or ["rules@1", "rules@2"]:
        result = score(load_extractor(spec), conversations)
        print(table(spec, result))
        if "-v" in sys.argv:
            print("\n".join(result["errors"]))


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if a != "-v"])
