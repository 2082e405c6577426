"""The concurrent reader: samples every topic's card set while the run goes on.

Each sample is one REPEATABLE READ, read-only transaction that reads the topic row, its current
run and its cards, as a client would. Samples go to a JSON-lines file; the checker decides
afterwards whether any of them was torn, mixed or older than one seen before. A restarted or
unreachable PostgreSQL only pauses sampling.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.chaos.expected import card_digest
from tests.chaos.stack import SAMPLER_APP

# One topic every few milliseconds: a full sweep of ~150 topics takes about a second, so every
# topic is seen many times per run, without taking a core from the system under test.
PAUSE_S = 0.004
# While PostgreSQL is down, try again this often.
RECONNECT_S = 0.5


class Sampler:
    def __init__(self, conninfo: str, topics: list[tuple[str, str]], path: Path) -> None:
        self.conninfo = f"{conninfo} application_name={SAMPLER_APP}"
        self.topics = topics
        self.path = path
        self.count = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        with self.path.open("a") as out:
            while not self._stop.is_set():
                try:
                    with psycopg.connect(self.conninfo, connect_timeout=3) as conn:
                        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                        conn.read_only = True
                        self._sweep(conn, out)
                except psycopg.Error:
                    self.errors += 1
                    self._stop.wait(RECONNECT_S)

    def _sweep(self, conn: psycopg.Connection[Any], out: Any) -> None:
        while not self._stop.is_set():
            for user, topic in self.topics:
                if self._stop.is_set():
                    return
                sample = self._sample(conn, user, topic)
                out.write(json.dumps(sample) + "\n")
                self.count += 1
                time.sleep(PAUSE_S)
            out.flush()

    def _sample(self, conn: psycopg.Connection[Any], user: str, topic: str) -> dict[str, Any]:
        with conn.transaction():
            row = conn.execute(
                "SELECT current_run_id, cards_source_hash FROM topics"
                " WHERE user_id = %s AND topic_id = %s",
                (user, topic),
            ).fetchone()
            run = None
            if row is not None and row[0] is not None:
                run = conn.execute(
                    "SELECT run_id, source_hash, card_count FROM extract_runs WHERE run_id = %s",
                    (row[0],),
                ).fetchone()
            cards = conn.execute(
                "SELECT card_id, run_id, position, kind, title, body, message_ids FROM cards"
                " WHERE user_id = %s AND topic_id = %s ORDER BY position, card_id",
                (user, topic),
            ).fetchall()
        return {
            "t": time.time(),
            "user": user,
            "topic": topic,
            "exists": row is not None,
            "current_run": None if row is None else row[0],
            "cards_hash": None if row is None else row[1],
            "run": None if run is None else list(run),
            "cards": [[c[0], c[1], c[2]] for c in cards],
            "digest": card_digest([c[2:] for c in cards]),
        }
