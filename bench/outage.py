"""Memory through a database outage: a member's peak RSS while PostgreSQL is stopped and a
backlog arrives, then how long it takes to catch up once PostgreSQL is back.

The member must stay in its group and keep polling (to stay a member) without holding the
backlog in memory: past its bound of held records it pauses every partition (docs/design.md,
"Inside a member"). The RSS is sampled from /proc while the database is down.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.completion import Unfinished, cards_current, wait_done
from bench.environment import Stack, fresh_topic
from bench.loadgen import LoadSpec, generate, publish_backlog
from bench.pipeline import Members, new_target
from cardwright.stack import native_postgres
from cardwright.storage.engine import make_engine

SAMPLE_EVERY_S = 0.25
# Waiting for the first (warm-up) event to be stored: the member has joined and connected.
JOIN_TIMEOUT_S = 120.0


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(
    stack: Stack, events: int, outage_s: float, seed: int, timeout_s: float
) -> dict[str, Any]:
    """Peak member RSS (MB) while PostgreSQL is stopped for ``outage_s`` and ``events`` arrive."""
    if stack.config is None:
        raise RuntimeError("the outage measurement needs the bench stack's configuration")
    spec = LoadSpec(users=500, topics=max(1, events // 20), messages_per_topic=20, seed=seed)
    backlog = generate(spec)[:events]
    topic = fresh_topic(stack.bootstrap, "outage")
    target = new_target(stack, topic, "outage")
    engine = make_engine(target.database_url)
    members = Members(target, 1)
    pid = members.processes[0].pid
    try:
        publish_backlog(stack.bootstrap, topic, backlog[:1])
        wait_done(
            stack.bootstrap,
            target.group,
            topic,
            lambda: cards_current(engine, 1),
            JOIN_TIMEOUT_S,
            members.alive,
        )
        before = rss_mb(pid)
        engine.dispose()
        native_postgres.stop(stack.config)
        stopped = time.monotonic()
        try:
            publish_backlog(stack.bootstrap, topic, backlog[1:])
            published_s = time.monotonic() - stopped
            peak = before or 0.0
            while time.monotonic() - stopped < outage_s:
                peak = max(peak, rss_mb(pid) or 0.0)
                time.sleep(SAMPLE_EVERY_S)
        finally:
            native_postgres.start(stack.config)
            native_postgres.wait_ready(stack.config)
        restarted = time.monotonic()
        topics = len({(e.user_id, e.topic_id) for e in backlog})
        try:
            wait_done(
                stack.bootstrap,
                target.group,
                topic,
                lambda: cards_current(engine, topics),
                timeout_s,
                members.alive,
            )
            caught_up_s: float | None = round(time.monotonic() - restarted, 1)
        except Unfinished:
            caught_up_s = None
    finally:
        engine.dispose()
        members.stop()
    return {
        "events": len(backlog),
        "outage_s": outage_s,
        "published_in_s": round(published_s, 1),
        "rss_before_mb": round(before or 0.0, 1),
        "peak_rss_mb": round(peak, 1),
        "caught_up_after_restart_s": caught_up_s,
    }
