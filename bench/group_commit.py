"""What group commit buys: 200 topics x 8 cards replaced one per transaction vs in batches of 50.

Each round stores a new card set (a new source hash, so every replace writes a run and its
cards) for all topics twice: with ``replace_cards`` one topic per transaction, and with
``replace_many`` 50 topics per transaction; the two alternate and each round's ratio compares
runs that shared the machine's load of the moment. A second measurement times the card insert of
one batch (50 topics x 8 cards) written as ``INSERT ... SELECT FROM unnest(...)`` (replace_cards'
way), as text COPY (group_replace.copy_cards) and as binary COPY: what chose group_replace's way.

    python -m bench.group_commit [--no-save]   # needs CARDWRIGHT_DATABASE_URL (an admin URL)

It creates its own database on that server and drops it afterwards; figures go to stdout and to
bench/results/group_commit.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, Executable, cast, delete, insert, select, text
from sqlalchemy.dialects.postgresql import JSONB

from bench import report
from bench.environment import fresh_database, machine
from cardwright.schema.cards import CardDraft, CardKind, LiveMessage, TopicSnapshot
from cardwright.storage.arrays import unnest
from cardwright.storage.engine import make_engine
from cardwright.storage.group_replace import copy_cards, replace_many
from cardwright.storage.replace import (
    CARD_TYPES,
    ExtractResult,
    card_row,
    replace_cards,
)
from cardwright.storage.tables import cards, topics

TOPICS = 200
CARDS_PER_TOPIC = 8
MESSAGES_PER_TOPIC = 4
BATCH = 50
ROUNDS = 5
INSERT_REPEATS = 30
EXTRACTOR_ID = "rules@1"
BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _seed(engine: Engine) -> list[TopicSnapshot]:
    """TOPICS topic rows and the snapshots the extractions came from (messages are not read)."""
    snapshots = [
        TopicSnapshot(
            user_id=f"user-{i % 20:02d}",
            topic_id=f"topic-{i:04d}",
            conversation_id=f"conv-{i:04d}",
            state_version=MESSAGES_PER_TOPIC,
            messages=tuple(
                LiveMessage(f"m-{i}-{j}", "user", BASE + timedelta(minutes=j), "x" * 200)
                for j in range(MESSAGES_PER_TOPIC)
            ),
        )
        for i in range(TOPICS)
    ]
    with engine.begin() as connection:
        connection.execute(
            topics.insert(),
            [
                {
                    "user_id": s.user_id,
                    "topic_id": s.topic_id,
                    "conversation_id": s.conversation_id,
                    "state_version": s.state_version,
                }
                for s in snapshots
            ],
        )
    return snapshots


def _drafts(snapshot: TopicSnapshot) -> list[CardDraft]:
    kinds = list(CardKind)
    ids = tuple(m.message_id for m in snapshot.messages[:2])
    return [
        CardDraft(
            kind=kinds[k % len(kinds)],
            title=f"Card {k} of {snapshot.topic_id}: send the report by Friday",
            body="Alice will send the quarterly report to Bob before the Friday meeting.",
            message_ids=ids,
        )
        for k in range(CARDS_PER_TOPIC)
    ]


def _results(snapshots: Sequence[TopicSnapshot], label: str) -> list[ExtractResult]:
    """A new card set for every topic: a source hash no earlier round used."""
    return [
        ExtractResult(
            snapshot=s,
            source_hash=f"{label}-{s.topic_id}".encode().hex()[:64].ljust(64, "0"),
            extractor_id=EXTRACTOR_ID,
            drafts=_drafts(s),
            extract_ms=1,
            consumer_instance="bench",
        )
        for s in snapshots
    ]


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def replaces(engine: Engine, snapshots: Sequence[TopicSnapshot]) -> dict[str, Any]:
    one_s: list[float] = []
    many_s: list[float] = []
    for round_ in range(ROUNDS):
        one = _results(snapshots, f"one{round_}")
        many = _results(snapshots, f"many{round_}")

        def one_per_transaction(batch: list[ExtractResult] = one) -> None:
            for result in batch:
                replace_cards(engine, result)

        def batched(batch: list[ExtractResult] = many) -> None:
            for start in range(0, len(batch), BATCH):
                replace_many(engine, batch[start : start + BATCH])

        # Alternate which goes first, so neither always meets a warmer cache.
        if round_ % 2:
            many_s.append(_timed(batched))
            one_s.append(_timed(one_per_transaction))
        else:
            one_s.append(_timed(one_per_transaction))
            many_s.append(_timed(batched))
    ratios = [one / many for one, many in zip(one_s, many_s, strict=True)]
    return {
        "topics": TOPICS,
        "cards_per_topic": CARDS_PER_TOPIC,
        "batch": BATCH,
        "rounds": ROUNDS,
        "one_per_transaction": {
            "seconds_median": round(statistics.median(one_s), 4),
            "topics_per_s": round(TOPICS / statistics.median(one_s), 1),
        },
        f"batches_of_{BATCH}": {
            "seconds_median": round(statistics.median(many_s), 4),
            "topics_per_s": round(TOPICS / statistics.median(many_s), 1),
        },
        "ratio_per_round": [round(r, 2) for r in ratios],
        "ratio": round(statistics.median(ratios), 2),
    }


def _unnest_cards(written: Sequence[tuple[ExtractResult, int]]) -> Executable:
    """The rows of copy_cards as one INSERT ... SELECT FROM unnest(...), one array per column
    (replace_cards' way, for many topics at once)."""
    rows = [
        card_row(result, run_id, position, draft)
        for result, run_id in written
        for position, draft in enumerate(result.drafts)
    ]
    arrays = unnest(*((name, type_, [row[name] for row in rows]) for name, type_ in CARD_TYPES))
    return insert(cards).from_select(
        [name for name, _ in CARD_TYPES],
        select(
            *(
                cast(arrays.c[name], JSONB) if name == "message_ids" else arrays.c[name]
                for name, _ in CARD_TYPES
            )
        ),
    )


def _copy_binary(connection: Connection, written: Sequence[tuple[ExtractResult, int]]) -> None:
    """The rows of copy_cards by binary COPY, the third candidate."""
    names = [name for name, _ in CARD_TYPES]
    raw: Any = connection.connection.driver_connection
    statement = f"COPY cards ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(_COPY_TYPES)
        for result, run_id in written:
            for position, draft in enumerate(result.drafts):
                row = card_row(result, run_id, position, draft)
                row["message_ids"] = Jsonb(list(draft.message_ids))
                copy.write_row([row[name] for name in names])


_COPY_TYPES = ["text", "int8", "text", "text", "text", "int4", "text", "text", "text", "jsonb"]


def card_inserts(engine: Engine, snapshots: Sequence[TopicSnapshot]) -> dict[str, Any]:
    """One batch's cards, inserted after its old cards are deleted, in a transaction rolled back."""
    batch = _results(snapshots[:BATCH], "inserts")
    replace_many(engine, batch)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT topic_id, current_run_id FROM topics WHERE current_run_id IS NOT NULL")
        )
        run_of = {row.topic_id: int(row.current_run_id) for row in found}
    written = [(r, run_of[r.snapshot.topic_id]) for r in batch]
    keys = [r.snapshot.topic_id for r in batch]
    ways: dict[str, Callable[[Connection], object]] = {
        "unnest_ms": lambda c: c.execute(_unnest_cards(written)),
        "copy_text_ms": lambda c: copy_cards(c, written),
        "copy_binary_ms": lambda c: _copy_binary(c, written),
    }
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for repeat in range(INSERT_REPEATS):
        for name in ways if repeat % 2 else reversed(ways):
            with engine.connect() as connection:
                transaction = connection.begin()
                connection.execute(delete(cards).where(cards.c.topic_id.in_(keys)))  # not timed
                started = time.perf_counter()
                ways[name](connection)
                timings[name].append((time.perf_counter() - started) * 1000)
                transaction.rollback()
    return {
        "cards": BATCH * CARDS_PER_TOPIC,
        "repeats": INSERT_REPEATS,
        **{name: round(statistics.median(values), 3) for name, values in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.group_commit", description=__doc__)
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    admin_url = os.environ.get("CARDWRIGHT_DATABASE_URL")
    if not admin_url:
        parser.error("set CARDWRIGHT_DATABASE_URL to a PostgreSQL URL that may create databases")
    url = fresh_database(admin_url, "group_commit")
    engine = make_engine(url)
    try:
        snapshots = _seed(engine)
        replaced = replaces(engine, snapshots)
        inserts = card_inserts(engine, snapshots)
    finally:
        engine.dispose()
        admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = url.rsplit("/", 1)[1]
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    one, many = replaced["one_per_transaction"], replaced[f"batches_of_{BATCH}"]
    print(f"{TOPICS} topics x {CARDS_PER_TOPIC} cards, median of {ROUNDS} rounds:")
    print(f"  one per transaction: {one['seconds_median']:.3f} s ({one['topics_per_s']:,.0f}/s)")
    print(f"  batches of {BATCH}: {many['seconds_median']:.3f} s ({many['topics_per_s']:,.0f}/s)")
    print(f"  ratio (one / batched): {replaced['ratio']} (per round {replaced['ratio_per_round']})")
    print(
        f"card insert, {inserts['cards']} cards: unnest {inserts['unnest_ms']:.2f} ms,"
        f" COPY text {inserts['copy_text_ms']:.2f} ms,"
        f" COPY binary {inserts['copy_binary_ms']:.2f} ms (median of {INSERT_REPEATS})"
    )
    if not args.no_save:
        header = {"machine": machine(admin_url)}
        body = {
            "replace": replaced,
            "card_insert": inserts,
            "ratios": {
                "batched/one_per_transaction_speed": replaced["ratio"],
                "copy_text/unnest_card_insert_time": round(
                    inserts["copy_text_ms"] / inserts["unnest_ms"], 2
                ),
                "copy_binary/unnest_card_insert_time": round(
                    inserts["copy_binary_ms"] / inserts["unnest_ms"], 2
                ),
            },
        }
        path = report.write(report.RESULTS_DIR, "group_commit", header, body)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
