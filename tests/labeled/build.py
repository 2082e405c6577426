"""Builds conversations.jsonl from the hand-labelled pool: ``python -m tests.labeled.build``.

Seeded, so the file is the same on every run. Each conversation is either one of the pool's
threads, one held-out message, or two to four single messages of one language (a few mix
languages), each message
keeping its own created_at (its labels are computed against it). Expected cards merge across a
conversation's messages by kind and key, citing every message that carries the label.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from tests.labeled.pool import ENGLISH, FRENCH, GERMAN, HOLDOUT, SPANISH, THREADS, Entry

PATH = Path(__file__).with_name("conversations.jsonl")
CONVERSATIONS = 120


def conversation(number: int, lang: str, entries: list[Entry]) -> dict[str, object]:
    messages = []
    expected: dict[str, dict[str, list[str]]] = {}
    for index, (created, text, labels) in enumerate(entries):
        message_id = f"c{number}-m{index}"
        at = datetime.fromisoformat(created) + timedelta(minutes=index)
        messages.append({"id": message_id, "created_at": at.isoformat(), "text": text})
        for kind, key in labels:
            cited = expected.setdefault(kind, {}).setdefault(key, [])
            if message_id not in cited:
                cited.append(message_id)
    cards = {
        kind: [{"key": key, "message_ids": ids} for key, ids in keys.items()]
        for kind, keys in sorted(expected.items())
    }
    return {"id": f"c{number}", "lang": lang, "messages": messages, "expected": cards}


def build() -> list[dict[str, object]]:
    rng = random.Random(12)
    pools = {"en": ENGLISH, "es": SPANISH, "de": GERMAN, "fr": FRENCH}
    rows = [conversation(n, "thread", thread) for n, thread in enumerate(THREADS)]
    langs = ["en", "en", "en", "es", "de", "fr"]
    while len(rows) < CONVERSATIONS:
        number = len(rows)
        if number % 10 == 0:
            lang, picked = "mixed", [rng.choice(pools[key]) for key in rng.sample(list(pools), 3)]
        else:
            lang = langs[number % len(langs)]
            picked = rng.sample(pools[lang], rng.randint(2, 4))
        rows.append(conversation(number, lang, picked))
    for entry in HOLDOUT:
        rows.append(conversation(len(rows), "holdout", [entry]))
    return rows


def main() -> None:
    rows = build()
    PATH.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    print(f"{len(rows)} conversations in {PATH}")


if __name__ == "__main__":
    main()
