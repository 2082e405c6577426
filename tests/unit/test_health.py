"""Liveness and readiness from worker events, and the HTTP endpoints that show them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from cardwright.consumers import observations as obs
from cardwright.health import DB_CHECK_INTERVAL_S, Health, HealthServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Ping:
    def __init__(self) -> None:
        self.answers = True
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answers


def test_alive_only_while_the_loop_turns() -> None:
    clock = Clock()
    health = Health(Ping(), liveness_s=30, clock=clock)
    assert not health.liveness()[0]  # not started
    health(obs.Turn(0))
    clock.now += 29
    assert health.liveness()[0]
    clock.now += 2
    live, body = health.liveness()
    assert not live and body["seconds_since_turn"] == 31


def test_ready_needs_partitions_and_the_database() -> None:
    clock, ping = Clock(), Ping()
    health = Health(ping, clock=clock)
    assert not health.readiness()[0]  # nothing assigned yet
    health(obs.PartitionsAssigned((0, 1)))
    assert health.readiness() == (
        True,
        {"ready": True, "live": True, "partitions": [0, 1], "database": True},
    )
    health(obs.PartitionsRevoked((0,)))
    health(obs.PartitionsLost((1,)))
    assert not health.readiness()[0]
    health(obs.PartitionsAssigned((2,)))
    health(obs.DatabaseUnavailable("down"))
    assert health.readiness()[1] == {
        "ready": False,
        "live": True,
        "partitions": [2],
        "database": False,
    }
    health(obs.DatabaseAvailable())
    health(obs.Turn(0))
    health(obs.Turn(0))
    assert health.readiness()[0]


def test_not_ready_while_the_loop_does_not_turn() -> None:
    """A member blocked in a statement (a row lock held elsewhere) keeps its partitions and its
    database answers a probe, but it does no work: not ready once the liveness window passed."""
    clock = Clock()
    health = Health(Ping(), liveness_s=30, clock=clock)
    health(obs.PartitionsAssigned((0,)))
    assert health.readiness()[0]
    clock.now += 31
    ready, body = health.readiness()
    assert not ready and body["live"] is False and body["database"] is True
    health(obs.Turn(1))
    assert health.readiness()[0]


def test_back_from_an_outage_only_after_a_whole_turn_went_through() -> None:
    """After "available" the next turn retries the held batch, which may block on the same lock
    again: the member is ready only when the turn after that one starts."""
    health = Health(Ping(), liveness_s=30, clock=Clock())
    health(obs.PartitionsAssigned((0,)))
    health(obs.DatabaseUnavailable("SQLSTATE 55P03: lock timeout"))
    health(obs.Turn(1))
    assert not health.readiness()[0]
    health(obs.DatabaseAvailable())
    assert not health.readiness()[0]
    health(obs.Turn(1))  # retries the held batch: it may block again
    assert not health.readiness()[0]
    health(obs.DatabaseUnavailable("SQLSTATE 55P03: lock timeout"))  # it did
    health(obs.Turn(1))
    health(obs.DatabaseAvailable())
    health(obs.Turn(1))
    health(obs.Turn(0))  # the batch went through
    assert health.readiness()[0]


def test_database_probe_is_cached_between_checks() -> None:
    clock, ping = Clock(), Ping()
    health = Health(ping, clock=clock)
    health(obs.PartitionsAssigned((0,)))
    health.readiness()
    health.readiness()
    assert ping.calls == 1
    ping.answers = False
    assert health.readiness()[0]  # the cached answer
    clock.now += DB_CHECK_INTERVAL_S
    assert not health.readiness()[0]
    assert ping.calls == 2


def test_server_answers_metrics_and_probes_with_status_codes() -> None:
    registry = CollectorRegistry()
    Counter("cardwright_demo", "demo", registry=registry).inc(3)
    health = Health(Ping())
    server = HealthServer(health, registry, port=0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert "cardwright_demo_total 3.0" in response.read().decode()
        for path in ("/livez", "/readyz"):
            try:
                urllib.request.urlopen(base + path, timeout=5)
                raise AssertionError(f"{path} should be 503 before the loop runs")
            except urllib.error.HTTPError as exc:
                assert exc.code == 503
                assert json.loads(exc.read())["ready" if path == "/readyz" else "live"] is False
        health(obs.Turn(0))
        health(obs.PartitionsAssigned((0,)))
        for path in ("/livez", "/readyz"):
            with urllib.request.urlopen(base + path, timeout=5) as response:
                assert response.status == 200
    finally:
        server.stop()


def test_any_worker_event_counts_as_a_sign_of_life() -> None:
    clock = Clock()
    health = Health(Ping(), liveness_s=30, clock=clock)
    health(obs.Turn(5))
    clock.now += 25
    health(obs.RunFinished("u", "t", "new"))  # a long turn of extractions
    clock.now += 25
    assert health.liveness()[0]


def test_not_ready_while_the_database_is_misconfigured_and_ready_once_fixed() -> None:
    health = Health(Ping(), clock=Clock())
    health(obs.PartitionsAssigned((0,)))
    line = "database is read-only (SQLSTATE 25006): point CARDWRIGHT_DATABASE_URL at the primary"
    health(obs.DatabaseMisconfigured(line, "25006"))
    ready, body = health.readiness()
    assert not ready and body["configuration"] == line
    health(obs.DatabaseConfigured())
    ready, body = health.readiness()
    assert ready and "configuration" not in body
