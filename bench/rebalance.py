"""The rebalance pause under each group protocol: classic (cooperative-sticky) and KIP-848.

A steady load (``--rate`` events/s over 6 partitions) runs through one member; a second member
joins, later leaves cleanly. From the members' audit logs (CARDWRIGHT_AUDIT_LOG: every batch
with the (partition, offset) it applied) the pause of a partition is the longest time between
two of its batches; reported for the partitions that changed owner at the join and at the
leave, next to the steady gap (the 99th percentile outside the rebalances). Uses the Kafka and
PostgreSQL of CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS / CARDWRIGHT_DATABASE_URL (a fresh topic and
database); the KIP-848 pause depends on the broker's group.consumer.heartbeat.interval.ms.

    python -m bench.rebalance [--rate 120] [--out bench/results/rebalance.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.environment import fresh_database, fresh_topic
from bench.loadgen import LoadSpec, generate
from cardwright.producers.publisher import Publisher

PROTOCOLS = ("classic", "consumer")
# A member needs a few seconds to start on a busy machine; the leave comes well after it joined.
JOIN_AT_S, LEAVE_AT_S, END_S = 10.0, 40.0, 55.0


def _publish_steady(bootstrap: str, topic: str, rate: float, seconds: float) -> None:
    events = generate(
        LoadSpec(users=50, topics=500, messages_per_topic=int(rate * seconds / 500) + 1)
    )
    publisher = Publisher({"bootstrap.servers": bootstrap, "linger.ms": "5"}, topic)
    started = time.monotonic()
    for i, event in enumerate(events[: int(rate * seconds)]):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        publisher.publish(event)
    publisher.flush(60)


def _member(env: dict[str, str], audit: Path, protocol: str) -> subprocess.Popen[bytes]:
    with audit.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cardwright", "consume"],
            env=env | {"CARDWRIGHT_AUDIT_LOG": str(audit), "CARDWRIGHT_GROUP_PROTOCOL": protocol},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _batches(paths: list[Path]) -> dict[int, list[float]]:
    """partition -> times of the batches that applied records of it."""
    times: dict[int, list[float]] = defaultdict(list)
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("event") != "batch":
                continue
            for partition in {int(a[1]) for a in entry.get("applied", [])}:
                times[partition].append(float(entry["t"]))
    return {p: sorted(ts) for p, ts in times.items()}


def _gaps(times: list[float], start: float, end: float) -> list[float]:
    inside = [t for t in times if start <= t <= end]
    return [b - a for a, b in itertools.pairwise(inside)]


def measure(protocol: str, rate: float) -> dict[str, Any]:
    bootstrap = os.environ["CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS"]
    topic = fresh_topic(bootstrap, f"rebalance-{protocol}")
    database = fresh_database(os.environ["CARDWRIGHT_DATABASE_URL"], f"rebalance_{protocol}")
    env = {
        **os.environ,
        "CARDWRIGHT_DATABASE_URL": database,
        "CARDWRIGHT_EVENTS_TOPIC": topic,
        "CARDWRIGHT_GROUP_ID": topic,
        "CARDWRIGHT_DEBOUNCE_MS": "1000",
        "CARDWRIGHT_LOG_LEVEL": "WARNING",
    }
    out = Path(tempfile.mkdtemp(prefix=f"rebalance-{protocol}-"))
    first = _member(env, out / "a.jsonl", protocol)
    time.sleep(5)  # joined before the load starts
    t0 = time.time()
    load = threading.Thread(target=_publish_steady, args=(bootstrap, topic, rate, END_S))
    load.start()
    time.sleep(JOIN_AT_S)
    joined_at = time.time()
    second = _member(env, out / "b.jsonl", protocol)
    time.sleep(LEAVE_AT_S - JOIN_AT_S)
    left_at = time.time()
    second.send_signal(signal.SIGTERM)
    second.wait(60)
    load.join()
    time.sleep(3)
    first.send_signal(signal.SIGTERM)
    first.wait(60)
    batches = _batches([out / "a.jsonl", out / "b.jsonl"])
    # The partitions whose batches came from both members moved at the join and the leave.
    owners = {p: {name for name in ("a", "b") if _in(out / f"{name}.jsonl", p)} for p in batches}
    moved = sorted(p for p, who in owners.items() if len(who) > 1)
    steady = [g for ts in batches.values() for g in _gaps(ts, t0 + 2, joined_at - 0.5)]
    join = [max(_gaps(batches[p], joined_at - 1, left_at - 1), default=0.0) for p in moved]
    leave = [max(_gaps(batches[p], left_at - 1, t0 + END_S), default=0.0) for p in moved]
    return {
        "protocol": protocol,
        "rate": rate,
        "partitions_moved": moved,
        "steady_gap_p99_s": round(_p99(steady), 3),
        "join_pause_max_s": round(max(join, default=0.0), 3),
        "leave_pause_max_s": round(max(leave, default=0.0), 3),
    }


def _in(path: Path, partition: int) -> bool:
    return partition in _batches([path])


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return max(values, default=0.0)
    return statistics.quantiles(values, n=100)[98]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rebalance", description=__doc__)
    parser.add_argument("--rate", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/rebalance.json"))
    args = parser.parse_args(argv)
    results = [measure(protocol, args.rate) for protocol in PROTOCOLS]
    document = {"measurement": "rebalance", "results": results}
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
