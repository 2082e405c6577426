"""Health of one consumer group member, and the HTTP server that shows it and the metrics.

    GET /metrics  Prometheus text format (the registry of consumers.metrics.WorkerMetrics)
    GET /livez    200 while the poll loop reported within the liveness window, else 503
    GET /readyz   200 while this member is live (as /livez), owns partitions, and PostgreSQL
                  answers and takes its writes (not read-only, migrated, permitted, and the
                  work held during an outage or a lock wait has gone through), and its token
                  budget is not spent (CARDWRIGHT_LLM_TOKENS_PER_HOUR), else 503

``Health`` is an observer of the Worker's events (``turn``, ``assigned``/``revoked``/``lost``,
``unavailable``/``available``, ``misconfigured``/``configured``); the server runs in one daemon
thread next to the worker. Both probes answer a small JSON document saying why, so ``curl``
tells an operator what is wrong.
A member with no partitions (more members than partitions) is alive but not ready: it does no work.
A member blocked in a statement (a row lock another session holds) stops turning: it is not
ready once the liveness window has passed, and each lock timeout (storage.engine) makes it report
the database unavailable until a whole turn goes through again, so it is not ready meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cardwright.consumers import observations as obs
from cardwright.consumers.metrics import WorkerMetrics
from cardwright.consumers.observations import fan_out
from cardwright.consumers.worker import Worker
from cardwright.schema.errors import ConfigurationError
from cardwright.settings import Settings
from cardwright.storage.engine import ping

log = logging.getLogger("cardwright.health")

# A loop turn is one poll (or a wait on the extraction pool; at most the batch timeout), one
# batch transaction, the replaces of the extractions finished meanwhile and the snapshot reads
# of at most EXTRACTIONS_PER_TURN new ones; no turn waits on an extractor. An orchestrator that
# restarts a busy but healthy member loses its work, so the default window is generous (a lock
# wait or a slow database still fit). CARDWRIGHT_LIVENESS_TIMEOUT_S changes it.
DEFAULT_LIVENESS_S = 120.0
# Readiness runs its own SELECT 1 at most this often, so a probe every second costs nothing and a
# database that went away is noticed within seconds even while the worker has nothing to write.
DB_CHECK_INTERVAL_S = 5.0
# Turns the worker completes after saying the database is back before it counts as connected.
_TURNS_TO_BE_BACK = 2


class Health:
    """Liveness and readiness from the Worker's events plus a cached database probe."""

    def __init__(
        self,
        database_ping: Callable[[], bool],
        liveness_s: float = DEFAULT_LIVENESS_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ping = database_ping
        self._liveness_s = liveness_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_turn: float | None = None
        self._partitions: set[int] = set()
        self._worker_says_db_down = False
        # Turns since the worker said the database is back (None: not coming back). The first
        # turn after "available" retries the held batch, which may block again on the same
        # lock; only the turn after it shows that the batch went through.
        self._turns_since_back: int | None = None
        self._misconfigured: str | None = None  # the worker's line naming the fix
        self._budget_spent: str | None = None  # topics wait for the token budget
        self._db_checked_at = float("-inf")
        self._db_answered = False

    def __call__(self, observation: obs.Observation) -> None:
        with self._lock:
            # Any observation comes from the worker thread: it shows the loop is alive.
            self._last_turn = self._clock()
            match observation:
                case obs.Turn() if self._turns_since_back is not None:
                    self._turns_since_back += 1
                    if self._turns_since_back >= _TURNS_TO_BE_BACK:
                        self._turns_since_back = None
                case obs.PartitionsAssigned(partitions):
                    self._partitions |= set(partitions)
                case obs.PartitionsRevoked(partitions) | obs.PartitionsLost(partitions):
                    self._partitions -= set(partitions)
                case obs.DatabaseUnavailable():
                    self._worker_says_db_down = True
                    self._turns_since_back = None
                case obs.DatabaseAvailable():
                    self._worker_says_db_down = False
                    self._turns_since_back = 0
                    self._db_checked_at = float("-inf")  # believe the next probe, not a "no"
                case obs.DatabaseMisconfigured(error):
                    self._misconfigured = error
                case obs.DatabaseConfigured():
                    self._misconfigured = None
                case obs.BudgetSpent(error=error):
                    self._budget_spent = error
                case obs.BudgetAvailable():
                    self._budget_spent = None

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            last = self._last_turn
        if last is None:
            return False, {"live": False, "reason": "the poll loop has not started"}
        since = self._clock() - last
        live = since <= self._liveness_s
        return live, {"live": live, "seconds_since_turn": round(since, 3)}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        live, _ = self.liveness()
        with self._lock:
            partitions = sorted(self._partitions)
            worker_says_down = self._worker_says_db_down or self._turns_since_back is not None
            misconfigured = self._misconfigured
            budget_spent = self._budget_spent
        database = not worker_says_down and self._database_answers()
        ready = (
            live and bool(partitions) and database and misconfigured is None and not budget_spent
        )
        body: dict[str, Any] = {
            "ready": ready,
            "live": live,
            "partitions": partitions,
            "database": database,
        }
        if misconfigured is not None:
            body["configuration"] = misconfigured
        if budget_spent is not None:
            body["budget"] = budget_spent
        return ready, body

    def _database_answers(self) -> bool:
        now = self._clock()
        with self._lock:
            if now - self._db_checked_at < DB_CHECK_INTERVAL_S:
                return self._db_answered
            self._db_checked_at = now  # other probes meanwhile use the previous answer
        answered = self._ping()
        with self._lock:
            self._db_answered = answered
        return answered


class HealthServer:
    """``/metrics``, ``/livez`` and ``/readyz`` on one port, served from a daemon thread."""

    def __init__(
        self, health: Health, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        handler = _handler(health, registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("metrics and health on port %d", self.port, extra={"port": self.port})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(health: Health, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path in ("/livez", "/healthz"):
                self._probe(*health.liveness())
            elif path == "/readyz":
                self._probe(*health.readiness())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _probe(self, ok: bool, body: dict[str, Any]) -> None:
            data = (json.dumps(body) + "\n").encode()
            self._send(200 if ok else 503, "application/json", data)

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the worker's own log lines

    return Handler


class Operations:
    """What ``cardwright consume`` adds for operators when ``--metrics-port`` is given: the
    metrics and health observers of one worker, and the server that shows them."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.metrics = WorkerMetrics() if settings.metrics_port is not None else None
        self.health: Health | None = None
        self._server: HealthServer | None = None

    @property
    def observer(self) -> obs.Observer | None:
        """The ``on_event`` callback for ``build_worker`` (None when metrics are off)."""
        return None if self.metrics is None else fan_out(self.metrics, self._observe_health)

    def _observe_health(self, observation: obs.Observation) -> None:
        if self.health is not None:
            self.health(observation)

    @contextmanager
    def serving(self, worker: Worker) -> Iterator[None]:
        if self.metrics is None or self._settings.metrics_port is None:
            yield
            return
        self.metrics.attach(worker)
        self.health = Health(lambda: ping(worker.engine), self._settings.liveness_timeout_s)
        try:
            self._server = HealthServer(
                self.health,
                self.metrics.registry,
                self._settings.metrics_host,
                self._settings.metrics_port,
            ).start()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve metrics on {self._settings.metrics_host}:"
                f"{self._settings.metrics_port}: {exc.strerror}"
            ) from None
        try:
            yield
        finally:
            self._server.stop()
