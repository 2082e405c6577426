"""One chaos run on a stack: its topic, group and database, workers, reader, publisher, checker.

Both the seeded schedule (``tests.chaos.run``) and the scripted planted-bug scenarios drive a
``ChaosRun``: start workers and the sampler, publish records, inject faults, wait for
convergence, then ``finish`` stops everything, reads the evidence back and checks it.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tests
from cardwright.producers.publisher import Publisher
from tests.chaos.anomalies import Findings
from tests.chaos.checker import Evidence, Verdict, check
from tests.chaos.cluster import Cluster, clean_environment
from tests.chaos.history import (
    QUIET_KAFKA,
    committed_and_ends,
    pending_topics,
    read_audit,
    read_db,
    read_dlq,
    read_jsonl,
    read_log,
)
from tests.chaos.member_logs import check_member_logs
from tests.chaos.sampler import Sampler
from tests.chaos.stack import ChaosStack, Names
from tests.chaos.workload import Record

# A burst's topics are extracted within the debounce plus max delay of going quiet; a worker
# restarted after the last fault rejoins within the 10 s session timeout. Three minutes is ample
# for a correct pipeline on a busy two-core machine; past it, the run did not converge.
CONVERGE_TIMEOUT_S = 180.0
# The workers run the oracle extractor (tests/chaos/oracle.py), whose cards the checker computes
# on its own; they import it from the repository root, which is their cwd and on their PYTHONPATH.
ORACLE = "tests.chaos.oracle:OracleExtractor"
REPO_ROOT = Path(tests.__file__).resolve().parent.parent
# Records still in the producer's queue when publishing ends are delivered within seconds, or
# within the broker's restart if one is under way.
FLUSH_TIMEOUT_S = 180.0


@dataclass(slots=True)
class Settings:
    """How the workers under test are configured."""

    partitions: int = 6
    debounce_ms: int = 500
    max_delay_ms: int = 3000
    batch_size: int = 250
    planted: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Convergence:
    converged: bool
    seconds: float
    lag: int
    pending: int


class ChaosRun:
    def __init__(
        self, stack: ChaosStack, settings: Settings, out_dir: Path, label: str, seed: int = 0
    ) -> None:
        self.stack = stack
        self.settings = settings
        self.out_dir = out_dir
        self.names = Names.fresh(label)
        self.findings = Findings()
        self.published = 0
        self.published_at = 0.0  # monotonic time the last record was acknowledged
        # (key, value) of every record published, and whether the broker acknowledged them all
        # (acks=all): each must then be in the log exactly as often (check_log).
        self.sent: Counter[tuple[bytes | None, bytes]] = Counter()
        self.acknowledged = False
        self.sampler: Sampler | None = None
        self._stopped = False
        out_dir.mkdir(parents=True, exist_ok=True)
        stack.prepare(self.names, settings.partitions)
        self.conninfo = stack.admin_conninfo(self.names.database)
        self.seed = seed
        self.groups = [self.names.group]
        self.cluster = self.new_cluster(seed)
        self.clusters = [self.cluster]
        # The publisher is an outside producer following the key contract; quiet like the rest.
        properties = {"bootstrap.servers": stack.bootstrap, "logger": QUIET_KAFKA}
        refresh = settings.extra_env.get("CARDWRIGHT_KAFKA_TOPIC_METADATA_REFRESH_INTERVAL_MS")
        if refresh:  # as the members: finds added partitions within seconds
            properties["topic.metadata.refresh.interval.ms"] = refresh
        self._publisher = Publisher(properties, self.names.topic)  # type: ignore[arg-type]

    def worker_env(self, **extra: str) -> dict[str, str]:
        s = self.settings
        env = clean_environment() | {
            "CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS": self.stack.bootstrap,
            "CARDWRIGHT_DATABASE_URL": self.stack.member_database_url(self.names.database),
            "CARDWRIGHT_EVENTS_TOPIC": self.names.topic,
            "CARDWRIGHT_GROUP_ID": self.names.group,
            "CARDWRIGHT_DEBOUNCE_MS": str(s.debounce_ms),
            "CARDWRIGHT_MAX_DELAY_MS": str(s.max_delay_ms),
            "CARDWRIGHT_BATCH_SIZE": str(s.batch_size),
            # A frozen worker's extraction must not time out when it wakes: the chaos suite
            # tests fencing, not the extraction timeout.
            "CARDWRIGHT_EXTRACT_TIMEOUT_S": "600",
            "CARDWRIGHT_LOG_FORMAT": "text",
            "CARDWRIGHT_EXTRACTOR": ORACLE,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        if s.planted:
            env["CARDWRIGHT_PLANTED_BUG"] = s.planted
        return env | s.extra_env | extra

    def new_cluster(self, seed: int, label: str = "w", **env: str) -> Cluster:
        return Cluster(self.worker_env(**env), self.out_dir, seed, label, cwd=REPO_ROOT)

    def add_group(self, number: int, **env: str) -> Cluster:
        """Another consumer group on the same topic and database (its own offsets)."""
        group = f"{self.names.group}-g{number}"
        cluster = self.new_cluster(self.seed, f"g{number}-", CARDWRIGHT_GROUP_ID=group, **env)
        self.groups.append(group)
        self.clusters.append(cluster)
        return cluster

    # --- traffic ------------------------------------------------------------------------------

    def start_sampler(self, topics: list[tuple[str, str]]) -> None:
        self.sampler = Sampler(self.conninfo, topics, self.out_dir / "samples.jsonl")
        self.sampler.start()

    def publish(self, records: list[Record], t0: float | None = None) -> None:
        """Publish ``records`` at their times after ``t0`` (now if not given), then flush."""
        t0 = time.monotonic() if t0 is None else t0
        for record in records:
            delay = t0 + record.at_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._publisher.publish_raw(record.key, record.value)
            self.sent[(record.key, record.value)] += 1
            self.published += 1
        self._publisher.flush(FLUSH_TIMEOUT_S)  # raises unless every record was acknowledged
        self.acknowledged = True
        self.published_at = time.monotonic()

    def publish_in_background(self, records: list[Record], t0: float) -> threading.Thread:
        thread = threading.Thread(
            target=self.publish, args=(records, t0), name="chaos-publisher", daemon=True
        )
        thread.start()
        return thread

    # --- waiting ------------------------------------------------------------------------------

    def lag_and_pending(self) -> tuple[int, int]:
        """Records not yet committed, summed over the groups, and topics pending."""
        lag = 0
        for group in self.groups:
            committed, ends = committed_and_ends(self.stack.bootstrap, group, self.names.topic)
            lag += sum(max(0, end - max(0, committed.get(p, 0))) for p, end in ends.items())
        return lag, pending_topics(self.conninfo)

    def converge(self, timeout_s: float = CONVERGE_TIMEOUT_S) -> Convergence:
        """Wait until the group has committed every record and no topic is pending."""
        started = time.monotonic()
        lag = pending = -1
        while time.monotonic() - started < timeout_s:
            try:
                lag, pending = self.lag_and_pending()
            except Exception:  # a service still coming back: ask again
                lag = pending = -1
            if lag == 0 and pending == 0:
                return Convergence(True, round(time.monotonic() - started, 2), 0, 0)
            time.sleep(0.5)
        self.findings.add("no_convergence", lag=lag, pending_topics=pending, waited_s=timeout_s)
        return Convergence(False, round(time.monotonic() - started, 2), lag, pending)

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"chaos: {what} did not happen within {timeout_s:.0f} s")
            time.sleep(0.1)

    # --- the end ------------------------------------------------------------------------------

    def stop(self, *clusters: Cluster) -> None:
        """Stop the workers (and report those that crashed) and the sampler; once."""
        if self._stopped:
            return
        self._stopped = True
        for cluster in clusters or self.clusters:
            cluster.shutdown()
            for done in cluster.exits:
                if done.cause == "crash":
                    self.findings.add(
                        "worker_crashed", worker=done.name, code=done.returncode, log=done.log_tail
                    )
        if self.sampler is not None:
            self.sampler.stop()

    def evidence(self) -> Evidence:
        samples = self.out_dir / "samples.jsonl"
        return Evidence(
            topic=self.names.topic,
            records=read_log(self.stack.bootstrap, self.names.topic),
            dead=read_dlq(self.stack.bootstrap, self.names.dlq),
            db=read_db(self.conninfo),
            audit=read_audit(self.out_dir),
            samples=read_jsonl([samples]) if samples.exists() else [],
        )

    def check(self) -> tuple[Verdict, Evidence]:
        evidence = self.evidence()
        check_member_logs(self.out_dir / "logs", self.findings)
        self.check_log(evidence)
        return check(evidence, self.findings), evidence

    def check_log(self, evidence: Evidence) -> None:
        """Every acknowledged record is in the log, and no more often than it was sent: broker
        faults lose nothing acknowledged (acks=all, min.insync.replicas) and producer retries
        duplicate nothing (idempotence)."""
        if not self.acknowledged:
            self.findings.add(
                "harness_error", problem="the publisher's records were not all acknowledged"
            )
            return
        logged = Counter((r.key, r.value) for r in evidence.records)
        for (key, value), sent in self.sent.items():
            found = logged.get((key, value), 0)
            if found < sent:
                self.findings.add("acknowledged_missing", key=key, sent=sent, logged=found)
            elif found > sent:
                self.findings.add("log_duplicate", key=key, sent=sent, logged=found)

    def close(self, keep_history: bool) -> None:
        self.stack.drop(self.names)
        if not keep_history:
            for bulky in ("audit", "logs", "samples.jsonl"):
                target = self.out_dir / bulky
                if target.is_dir():
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    target.unlink(missing_ok=True)

    def info(self) -> dict[str, Any]:
        return {
            "topic": self.names.topic,
            "group": self.names.group,
            "database": self.names.database,
            "published": self.published,
            "samples": 0 if self.sampler is None else self.sampler.count,
        }
