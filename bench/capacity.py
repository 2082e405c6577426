"""The measured inputs of the capacity model (docs/capacity.md).

One `cardwright consume --until-idle` over a backlog of generated events (bench.loadgen), with
PostgreSQL of its own (so its WAL and CPU are cardwright's alone) and a Kafka given by
CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS (Kafka is not measured here). Reports:

- CPU seconds of the member process (user + system) and of the PostgreSQL server processes;
- rows and bytes per table (heap + indexes + TOAST) and WAL bytes written;
- per event, per stored message, per extraction (run) and per card;
- the write ceiling: events/s that one PostgreSQL takes from ``persist_batch`` in batches of
  1000, with 1 and 2 writers, no Kafka and no extraction (an upper bound of a member's writes).

PostgreSQL runs as the local stack runs it (fsync=off, full_page_writes=off, cardwright.stack):
WAL bytes are a lower bound for a durable server, whose full-page images add to them.

    python -m bench.capacity [--topics 2000] [--messages 20] [--out bench/results/capacity.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.loadgen import LoadSpec, distinct_messages, generate, publish_backlog
from cardwright.producers.topics import ensure_topics
from cardwright.stack import native_postgres
from cardwright.stack.config import StackConfig, default_cache_dir
from cardwright.stack.procs import find_processes, free_port_block
from cardwright.storage.engine import make_engine
from cardwright.storage.messages import persist_batch
from cardwright.storage.migrate import upgrade

TABLES = ("messages", "topics", "extract_runs", "cards", "extract_failures")
CEILING_BATCH = 1000
CEILING_EVENTS = 60_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the command name.
        total += sum(int(f) for f in fields[11:15])
    return total / CLOCK_TICKS


def _postgres_cpu(config: StackConfig) -> float:
    return _cpu_of(find_processes([native_postgres.process_marker(config), f"{config.stack_id}:"]))


def _wal_lsn(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, dict[str, int]]:
    out = {}
    for table in TABLES:
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - fixed names
        size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
        assert rows is not None and size is not None
        out[table] = {"rows": int(rows[0]), "bytes": int(size[0])}
    return out


def measure(bootstrap: str, spec: LoadSpec) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="cardwright-test-stack-capacity-", dir="/var/tmp"))
    state.chmod(0o755)
    (state / "owner.pid").write_text(f"{os.getpid()}\n")
    base = free_port_block(3)
    config = StackConfig(
        state_dir=state,
        kafka_port=base,
        controller_port=base + 1,
        postgres_port=base + 2,
        cache_dir=Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ)),
    )
    native_postgres.start(config)
    native_postgres.wait_ready(config)
    try:
        return _measure(bootstrap, spec, config)
    finally:
        native_postgres.stop(config)
        shutil.rmtree(state, ignore_errors=True)


def _measure(bootstrap: str, spec: LoadSpec, config: StackConfig) -> dict[str, Any]:
    url = config.database_url
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    events = generate(spec)
    topic = f"capacity-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, topic, 6, f"{topic}.dlq")
    publish_backlog(bootstrap, topic, events)

    env = {
        **os.environ,
        "CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CARDWRIGHT_DATABASE_URL": url,
        "CARDWRIGHT_EVENTS_TOPIC": topic,
        "CARDWRIGHT_GROUP_ID": topic,
        "CARDWRIGHT_DEBOUNCE_MS": "1000",
        "CARDWRIGHT_MAX_DELAY_MS": "10000",
        "CARDWRIGHT_LOG_LEVEL": "WARNING",
    }
    with psycopg.connect(conninfo, autocommit=True) as conn:
        lsn_before = _wal_lsn(conn)
        pg_before = _postgres_cpu(config)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "cardwright", "consume", "--until-idle", "3"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.monotonic() - started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        pg_cpu = _postgres_cpu(config) - pg_before
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", (lsn_before,)
        ).fetchone()
        assert row is not None
        wal = int(row[0])
        conn.execute("CHECKPOINT")
        conn.execute("VACUUM ANALYZE")
        sizes = _sizes(conn)
    member_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    n_events = len(events)
    n_messages = sizes["messages"]["rows"]
    n_runs = sizes["extract_runs"]["rows"]
    n_cards = sizes["cards"]["rows"]
    return {
        "load": spec.describe(),
        "events": n_events,
        "distinct_messages": distinct_messages(events),
        "wall_s": round(wall, 2),
        "member_cpu_s": round(member_cpu, 2),
        "postgres_cpu_s": round(pg_cpu, 2),
        "wal_bytes": wal,
        "tables": sizes,
        "per_event": {
            "member_cpu_us": round(member_cpu / n_events * 1e6, 1),
            "postgres_cpu_us": round(pg_cpu / n_events * 1e6, 1),
            "wal_bytes": round(wal / n_events, 1),
        },
        "per_message": {
            "bytes": round(sizes["messages"]["bytes"] / max(1, n_messages), 1),
        },
        "per_run": {
            "bytes": round(sizes["extract_runs"]["bytes"] / max(1, n_runs), 1),
            "runs_per_topic": round(n_runs / max(1, sizes["topics"]["rows"]), 2),
        },
        "per_card": {
            "bytes": round(sizes["cards"]["bytes"] / max(1, n_cards), 1),
            "cards_per_run": round(n_cards / max(1, n_runs), 2),
        },
        "per_topic": {
            "bytes": round(sizes["topics"]["bytes"] / max(1, sizes["topics"]["rows"]), 1)
        },
        "ceiling": _ceiling(url),
    }


def _ceiling(url: str) -> dict[str, Any]:
    """Events/s ``persist_batch`` gets into this PostgreSQL, fresh topics, 1 and 2 writers."""
    result: dict[str, Any] = {}
    for writers in (1, 2):
        spec = LoadSpec(
            users=500, topics=CEILING_EVENTS // 20, messages_per_topic=20, seed=writers + 10
        )
        events = generate(spec)
        tag = f"w{writers}-"
        # Every writer its own users, so writers never wait on each other's rows.
        shards = [
            [e.model_copy(update={"user_id": f"{tag}{i}-{e.user_id}"}) for e in events[i::writers]]
            for i in range(writers)
        ]
        engine = make_engine(url, pool_size=writers)

        def write(part: list[Any], engine: Any = engine) -> None:
            for start in range(0, len(part), CEILING_BATCH):
                with engine.begin() as connection:
                    persist_batch(connection, part[start : start + CEILING_BATCH], "rules@1")

        started = time.monotonic()
        threads = [threading.Thread(target=write, args=(s,)) for s in shards]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started
        engine.dispose()
        result[f"writers_{writers}"] = {
            "events": len(events),
            "seconds": round(seconds, 2),
            "events_per_s": round(len(events) / seconds, 1),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--topics", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/capacity.json"))
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:29092")
    spec = LoadSpec(users=200, topics=args.topics, messages_per_topic=args.messages)
    result = {
        "measurement": "capacity",
        "machine_cores": os.cpu_count(),
        **measure(bootstrap, spec),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
