"""A long, seeded fuzz campaign against the event parser, differential with the JSON Schema.

    python -m tests.fuzz.parser_campaign --records 1000000 --seed 1 [--workers 2]

Feeds generated records (tests/fuzz/corpus.py: mutated valid events, damaged bytes, raw noise)
through ``parse_event`` and checks each against the oracle: the committed JSON Schema plus the
rules it cannot express. A crash is any exception other than ``BadInput`` or a reason outside the
known set; a mismatch is a record the parser and the oracle judge differently. Records come in
chunks, chunk ``i`` drawn from ``Random(f"{seed}/{i}")``, so a run is the same whatever the number
of workers and any finding can be replayed from its seed, chunk and index. Exits non-zero on any
crash or mismatch. Results of the committed run: tests/fuzz/RESULTS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from cardwright.schema.errors import BadInput
from cardwright.schema.events import PARSE_REASONS, parse_event
from tests.fuzz.corpus import expected, record

# Big enough that process start-up and result pickling do not matter, small enough for progress.
CHUNK = 10_000
# Findings kept in full for the report; counting goes on past them.
KEEP = 20


@dataclass
class Tally:
    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    beyond_schema: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    mismatches: int = 0
    findings: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.records += other.records
        self.outcomes.update(other.outcomes)
        self.beyond_schema.update(other.beyond_schema)
        self.crashes += other.crashes
        self.mismatches += other.mismatches
        self.findings.extend(other.findings[: KEEP - len(self.findings)])


def run_chunk(job: tuple[int, int, int]) -> Tally:
    seed, chunk, size = job
    rng = random.Random(f"{seed}/{chunk}")
    tally = Tally()
    for index in range(size):
        value, key = record(rng)
        where = f"seed {seed} chunk {chunk} index {index}: value={value!r:.300} key={key!r:.60}"
        try:
            parse_event(value, key)
            outcome = "accepted"
        except BadInput as bad:
            outcome = bad.reason
        except Exception as exc:
            outcome = "crash"
            tally.findings.append(f"crash {type(exc).__name__}: {exc} at {where}")
        if outcome not in PARSE_REASONS and outcome not in ("accepted", "crash"):
            tally.findings.append(f"unknown reason {outcome!r} at {where}")
            outcome = "crash"
        tally.records += 1
        tally.outcomes[outcome] += 1
        tally.crashes += outcome == "crash"
        verdict = expected(value, key)
        if verdict.broken is not None:
            tally.beyond_schema[verdict.broken] += 1
        if outcome != "crash" and (outcome == "accepted") != verdict.accept:
            tally.mismatches += 1
            tally.findings.append(f"mismatch parser={outcome} oracle={verdict} at {where}")
    return tally


def summary(tally: Tally, seed: int, seconds: float) -> str:
    rejected = tally.records - tally.outcomes["accepted"] - tally.outcomes["crash"]
    lines = [
        f"records: {tally.records}",
        f"seed: {seed}",
        f"accepted: {tally.outcomes['accepted']}",
        f"rejected: {rejected}",
    ]
    reasons = sorted(r for r in tally.outcomes if r not in ("accepted", "crash"))
    lines += [f"  {reason}: {tally.outcomes[reason]}" for reason in reasons]
    lines.append("schema-valid records rejected by a rule JSON Schema cannot express:")
    lines += [f"  {rule}: {count}" for rule, count in sorted(tally.beyond_schema.items())]
    lines += [
        f"crashes: {tally.crashes}",
        f"differential mismatches: {tally.mismatches}",
        f"elapsed: {seconds:.0f} s",
    ]
    lines += [f"finding: {finding}" for finding in tally.findings]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    args = parser.parse_args(argv)
    jobs = [
        (args.seed, chunk, min(CHUNK, args.records - start))
        for chunk, start in enumerate(range(0, args.records, CHUNK))
    ]
    total = Tally()
    started = time.monotonic()
    with multiprocessing.Pool(args.workers) as pool:
        for tally in pool.imap_unordered(run_chunk, jobs):
            total.add(tally)
            rate = total.records / max(time.monotonic() - started, 1e-9)
            print(
                f"\r{total.records}/{args.records} records, {total.crashes} crashes, "
                f"{total.mismatches} mismatches, {rate:.0f}/s",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    print(summary(total, args.seed, time.monotonic() - started))
    return 1 if total.crashes or total.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
