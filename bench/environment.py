"""Where the benchmarks run: their own local stack, fresh databases and topics, the machine.

The bench stack has its own state directory and ports, so a benchmark never disturbs (or is
disturbed by) a developer's stack or a test session. Each measurement gets a fresh database
and consumer group; the measurements of one run share one pre-published events topic.
"""

from __future__ import annotations

import os
import platform
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from cardwright.producers.topics import ensure_topics
from cardwright.stack import native
from cardwright.stack.config import KAFKA_VERSION, StackConfig, default_cache_dir
from cardwright.storage.engine import make_engine
from cardwright.storage.migrate import upgrade

# Away from the developer stack (29092/25432) and from the test harness's random free ports.
BENCH_KAFKA_PORT = 52092
BENCH_POSTGRES_PORT = 52432
BENCH_STATE_DIR = "/var/tmp/cardwright-bench-stack"  # noqa: S108  (same reason as the stack's)
# bench is not an installed package: its subprocesses (python -m bench.member) run from here.
REPO_ROOT = Path(__file__).resolve().parent.parent
# The partitions of the bench events topic: cardwright's default, so two members split it 3/3.
BENCH_PARTITIONS = 6


@dataclass(frozen=True, slots=True)
class Stack:
    bootstrap: str
    admin_database_url: str
    # How it was started, for measurements that stop and start a service (bench.outage).
    config: StackConfig | None = None


@contextmanager
def bench_stack(keep: bool = False) -> Iterator[Stack]:
    """Start the bench stack unless it runs; stop it afterwards unless ``keep`` or it ran before."""
    config = StackConfig(
        state_dir=Path(os.environ.get("CARDWRIGHT_BENCH_STATE_DIR", BENCH_STATE_DIR)),
        kafka_port=int(os.environ.get("CARDWRIGHT_BENCH_KAFKA_PORT", BENCH_KAFKA_PORT)),
        controller_port=int(os.environ.get("CARDWRIGHT_BENCH_KAFKA_PORT", BENCH_KAFKA_PORT)) + 1,
        postgres_port=int(os.environ.get("CARDWRIGHT_BENCH_POSTGRES_PORT", BENCH_POSTGRES_PORT)),
        cache_dir=Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ)),
    )
    was_running = config.state_dir.is_dir() and native.status(config).running
    native.up(config)
    try:
        yield Stack(config.bootstrap, config.database_url, config)
    finally:
        if not keep and not was_running:
            native.down(config)


def fresh_database(admin_url: str, label: str) -> str:
    """Create an empty, migrated database for one measurement; returns its URL."""
    name = f"bench_{re.sub(r'[^a-z0-9]', '_', label.lower())}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def fresh_topic(bootstrap: str, label: str) -> str:
    name = f"bench.{label}.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, name, BENCH_PARTITIONS, f"{name}.dlq")
    return name


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def machine(admin_url: str) -> dict[str, object]:
    """What the figures came from: CPU, cores, RAM, kernel, Python, Kafka and PostgreSQL."""
    engine = make_engine(admin_url)
    with engine.connect() as connection:
        postgres = str(connection.execute(text("SHOW server_version")).scalar_one())
    engine.dispose()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "postgresql": postgres.split()[0],
    }
