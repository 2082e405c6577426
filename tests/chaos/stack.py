"""The chaos suite's own Kafka and PostgreSQL, which it restarts and whose connections it kills.

Never a shared stack: its state directory and ports are its own. The directory follows the test
harness's naming (``/var/tmp/cardwright-test-stack-*`` with an ``owner.pid``), so a stack left
behind by a killed run is reaped by the next test session. Built on ``cardwright.stack``.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic
from psycopg import sql

from cardwright.producers.replication import replication_for
from cardwright.schema.errors import CardwrightError
from cardwright.stack import native, native_kafka, native_postgres
from cardwright.stack.config import StackConfig, check_ports, default_cache_dir
from cardwright.stack.procs import free_port_block, is_zombie, port_free, reap, wait_until
from cardwright.storage.engine import make_engine
from cardwright.storage.migrate import upgrade
from tests.chaos.history import QUIET_KAFKA
from tests.member_role import create_role, grant_member, privilege

# /var/tmp, not /tmp: when run as root, PostgreSQL runs as the postgres user (see tests/conftest).
STATE_ROOT = Path("/var/tmp")
STATE_PREFIX = "cardwright-test-stack-chaos-"
SAMPLER_APP = "chaos-sampler"
# Topic creation on one local broker takes well under a second; the margin is for a busy box.
TOPIC_TIMEOUT_S = 30.0
# A SIGKILLed JVM is gone within a second or two; past this something is wrong.
KILL_WAIT_S = 20.0
# A stopped broker's ports are free again within seconds; a start that still fails to bind is
# tried again.
PORT_WAIT_S = 30.0
START_ATTEMPTS = 3
# The members' role: not a superuser, granted exactly what a member needs (tests/member_role.py),
# so that a revoked privilege is really missing.
MEMBER_ROLE = "cardwright_member"
# The databases' default collation is ICU's en-US, as a production database created with an
# en_US locale has: ids must still be ordered by code point wherever the contract says so.
CREATE_DATABASE = (
    "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'"
    " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
)
# Stack ports are drawn above the well-known and registered services most machines run.
PORT_FLOOR = 20000


@dataclass(frozen=True, slots=True)
class Names:
    """One run's topic, group and database on the stack."""

    topic: str
    group: str
    database: str

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    @classmethod
    def fresh(cls, label: str) -> Names:
        tag = f"{label}-{uuid.uuid4().hex[:8]}"
        return cls(f"chaos-{tag}", f"chaos-{tag}", f"chaos_{tag.replace('-', '_')}")


class ChaosStack:
    def __init__(
        self, kafka_port: int | None = None, postgres_port: int | None = None, brokers: int = 1
    ) -> None:
        state = Path(tempfile.mkdtemp(prefix=STATE_PREFIX, dir=STATE_ROOT))
        state.chmod(0o755)  # the postgres user must pass through it
        (state / "owner.pid").write_text(f"{os.getpid()}\n")
        ports = stable_ports(3)
        if brokers > 1 and kafka_port is None:
            # Broker i listens on base + 2(i-1) and its controller one above (stack.config).
            kafka_port = free_port_block(2 * brokers)
            ports[1] = kafka_port + 1
        self.config = StackConfig(
            state_dir=state,
            kafka_port=kafka_port or ports[0],
            controller_port=ports[1],
            postgres_port=postgres_port or ports[2],
            cache_dir=Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ)),
            brokers=brokers,
        )
        check_ports(self.config)

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    def database_url(self, database: str) -> str:
        """The owner's URL (it migrates; operators' commands run as it)."""
        return self.config.database_url.rsplit("/", 1)[0] + f"/{database}"

    def member_database_url(self, database: str) -> str:
        """The URL the members use: the member role, not the owner."""
        return (
            f"postgresql+psycopg://{MEMBER_ROLE}@127.0.0.1:{self.config.postgres_port}/{database}"
        )

    def admin_conninfo(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.config.postgres_port} user=cardwright dbname={database}"

    def up(self) -> None:
        native.up(self.config)
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            create_role(conn, MEMBER_ROLE)

    def down(self) -> None:
        try:
            native.down(self.config)
        finally:
            shutil.rmtree(self.config.state_dir, ignore_errors=True)

    # --- per run ------------------------------------------------------------------------------

    def prepare(self, names: Names, partitions: int) -> None:
        """A migrated database (the member role granted its rights) and the events topic (K
        partitions) with its DLQ topic."""
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL(CREATE_DATABASE).format(sql.Identifier(names.database)))
        engine = make_engine(self.database_url(names.database))
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        with psycopg.connect(self.admin_conninfo(names.database), autocommit=True) as conn:
            grant_member(conn, names.database, MEMBER_ROLE)
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": QUIET_KAFKA})  # type: ignore[dict-item]
        wanted = {names.topic: partitions, names.dlq: 1}
        # As cardwright creates them (producers.replication): 3 replicas, 2 in sync on a cluster.
        replication = replication_for(self.config.brokers)
        futures = admin.create_topics(
            [
                NewTopic(
                    t,
                    num_partitions=n,
                    replication_factor=replication.factor,
                    config={"min.insync.replicas": str(replication.min_insync)},
                )
                for t, n in wanted.items()
            ],
            operation_timeout=TOPIC_TIMEOUT_S,
        )
        for future in futures.values():
            future.result(timeout=TOPIC_TIMEOUT_S)

        def leaders() -> bool:
            meta = admin.list_topics(timeout=5)
            return all(
                t in meta.topics
                and len(meta.topics[t].partitions) == n
                and all(p.leader >= 0 for p in meta.topics[t].partitions.values())
                for t, n in wanted.items()
            )

        if not wait_until(leaders, TOPIC_TIMEOUT_S):
            raise TimeoutError(f"topics {sorted(wanted)} have no leaders")

    def drop(self, names: Names) -> None:
        """Best effort: a leftover topic or database costs disk, never a wrong result."""
        try:
            with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(names.database)
                    )
                )
            admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": QUIET_KAFKA})  # type: ignore[dict-item]
            for future in admin.delete_topics([names.topic, names.dlq]).values():
                future.result(timeout=TOPIC_TIMEOUT_S)
        except Exception as exc:  # cleanup must not hide the run's result
            print(f"chaos: cleanup of {names.topic} failed: {exc}")

    # --- faults -------------------------------------------------------------------------------

    def restart_broker(self, hard: bool) -> dict[str, Any]:
        """Kafka as a whole stopped (cleanly, or every broker SIGKILLed) and started again: on a
        cluster, all of its brokers (the faults of single brokers are tests/chaos/brokers.py's)."""
        started = time.monotonic()
        old = [n.pid for n in native_kafka.status(self.config).nodes if n.pid is not None]
        if hard:
            for pid in old:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            # A dying JVM loses its command line before its sockets: wait for the processes to
            # be gone (or zombies) and their ports to be free before starting the next ones.
            wait_until(lambda: all(_gone(p) for p in old) and self._ports_free(), KILL_WAIT_S)
        else:
            native_kafka.stop(self.config)
        for pid in old:
            reap(pid)  # the brokers are our children when this process started the stack
        down_s = time.monotonic() - started
        failed: list[str] = []
        for attempt in range(1, START_ATTEMPTS + 1):
            wait_until(self._ports_free, PORT_WAIT_S)
            try:
                pids = native_kafka.start_cluster(self.config)
                native_kafka.wait_cluster_ready(self.config, pids)
                break
            except CardwrightError as exc:  # a busy port (ConfigurationError) or a failed start
                failed.append(f"attempt {attempt}: {str(exc).splitlines()[0]}")
                # A start that timed out may still come up later and hold the ports the next
                # attempt needs: end every broker of this attempt first.
                self._kill_brokers()
                if attempt == START_ATTEMPTS:
                    raise RuntimeError("broker restart failed: " + "; ".join(failed)) from exc
        return {
            "hard": hard,
            "down_s": round(down_s, 2),
            "took_s": _since(started),
            "start_attempts": attempt,
            **({"failed_attempts": failed} if failed else {}),
        }

    def _kill_brokers(self) -> None:
        kill_and_reap([n.pid for n in native_kafka.status(self.config).nodes if n.pid is not None])

    def add_partitions(self, topic: str, count: int) -> dict[str, Any]:
        """Grow ``topic`` to ``count`` partitions, as an operator does with kafka-topics --alter
        (docs/operations.md, "Adding partitions"); nothing else changes."""
        started = time.monotonic()
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": QUIET_KAFKA})  # type: ignore[dict-item]
        before = len(admin.list_topics(topic, timeout=10).topics[topic].partitions)
        if before >= count:
            return {"skipped": f"{topic} has {before} partitions already"}
        future = admin.create_partitions([NewPartitions(topic, count)])[topic]
        future.result(timeout=TOPIC_TIMEOUT_S)
        return {"from": before, "to": count, "took_s": _since(started)}

    def _ports_free(self) -> bool:
        kafka = [
            p
            for n in self.config.nodes
            for p in (self.config.client_port(n), self.config.quorum_port(n))
        ]
        return all(port_free(port) for port in kafka)

    def ensure_up(self) -> None:
        """Start whatever is not running (after a fault that could not be carried out)."""
        native.up(self.config)

    def restart_postgres(self) -> dict[str, Any]:
        started = time.monotonic()
        native_postgres.stop(self.config)
        native_postgres.start(self.config)
        native_postgres.wait_ready(self.config)
        return {"took_s": _since(started)}

    def read_only(self, database: str, hold_s: float) -> dict[str, Any]:
        """Make ``database`` read-only for new sessions (as a standby is), end the existing
        ones so every member meets it, hold, then make it writable again."""
        name = sql.Identifier(database)
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(name)
            )
        terminated = self.terminate_backends(database, look_s=0.0)
        time.sleep(hold_s)
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(name)
            )
        return {"hold_s": hold_s, **terminated}

    def revoke_permission(
        self, database: str, what: str, table: str, hold_s: float
    ) -> dict[str, Any]:
        """Take ``what`` on ``table`` from the member role, hold, then grant it back."""
        with psycopg.connect(self.admin_conninfo(database), autocommit=True) as conn:
            privilege(conn, False, what, table, MEMBER_ROLE)
        try:
            time.sleep(hold_s)
        finally:
            with psycopg.connect(self.admin_conninfo(database), autocommit=True) as conn:
                privilege(conn, True, what, table, MEMBER_ROLE)
        return {"revoked": f"{what} ON {table}", "hold_s": hold_s}

    def terminate_backends(self, database: str, look_s: float = 3.0) -> dict[str, Any]:
        """Kill the consumers' connections, waiting up to ``look_s`` for one mid-transaction."""
        query = """
            SELECT pid, state, xact_start IS NOT NULL FROM pg_stat_activity
            WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> %s
        """
        deadline = time.monotonic() + look_s
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            while True:
                rows = conn.execute(query, (database, SAMPLER_APP)).fetchall()
                busy = [pid for pid, state, in_xact in rows if in_xact and state != "idle"]
                if busy or time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            killed = sum(
                bool(conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0])  # type: ignore[index]
                for pid, _, _ in rows
            )
        return {"terminated": killed, "in_transaction": len(busy)}


def stable_ports(count: int) -> list[int]:
    """Free ports below the kernel's ephemeral range.

    A restarted server must get its port back; a port from the ephemeral range may meanwhile
    have become the local end of some client's connection, and the restart would fail to bind.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    chosen: list[int] = []
    while len(chosen) < count:
        port = rng.randrange(PORT_FLOOR, low)
        if port not in chosen and port_free(port):
            chosen.append(port)
    return chosen


def kill_and_reap(pids: list[int]) -> None:
    """SIGKILL ``pids``, wait until each is gone (or a zombie), and reap our children among them."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: all(_gone(p) for p in pids), KILL_WAIT_S)
    for pid in pids:
        reap(pid)


def _gone(pid: int) -> bool:
    return is_zombie(pid)  # true as well once the process no longer exists


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)
