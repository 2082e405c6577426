"""Running the Quix Streams peer (bench/peers/quix_peer.py) on the bench's topic.

Quix Streams is installed from PyPI into a virtual environment of its own under the cache
directory, never into the project's, so it cannot become a dependency. When it cannot be
installed or run here, the result says why instead of a figure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.completion import Unfinished, rows_at_least, wait_done
from bench.environment import Stack, fresh_database
from cardwright.stack.config import default_cache_dir
from cardwright.storage.engine import make_engine

# Pinned so that figures from different runs compare the same peer.
QUIX_REQUIREMENT = "quixstreams[postgresql]==3.28.1"
PEER_SCRIPT = Path(__file__).parent / "peers" / "quix_peer.py"
# pip resolving and downloading Quix Streams and its dependencies takes a minute or two.
INSTALL_TIMEOUT_S = 600
STOP_GRACE_S = 30
PEER_TABLE = "quix_messages"


def peer_python() -> Path:
    cache = Path(os.environ.get("CARDWRIGHT_CACHE_DIR") or default_cache_dir(os.environ))
    return cache / "bench-quix-venv" / "bin" / "python"


def ensure_peer() -> Path:
    """The peer venv's python, made on first use; raises RuntimeError with pip's complaint."""
    python = peer_python()
    venv = python.parent.parent
    marker = venv / "installed.txt"
    if python.exists() and marker.exists() and marker.read_text() == QUIX_REQUIREMENT:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", QUIX_REQUIREMENT],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip install {QUIX_REQUIREMENT} failed: {result.stderr[-1500:]}")
    marker.write_text(QUIX_REQUIREMENT)
    return python


def measure(
    stack: Stack, topic: str, events: int, messages: int, timeout_s: float
) -> dict[str, Any]:
    """Ingest the topic with the peer; events/s from its first record to lag 0 and all rows."""
    try:
        python = ensure_peer()
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        return {"ran": False, "why": f"cannot install the peer: {exc}"}
    database_url = fresh_database(stack.admin_database_url, "peer")
    group = f"bench-quix-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="cardwright-bench-quix-"))
    mark = work / "mark.json"
    process = subprocess.Popen(
        [
            str(python),
            str(PEER_SCRIPT),
            "--bootstrap",
            stack.bootstrap,
            "--topic",
            topic,
            "--group",
            group,
            "--dsn",
            database_url.replace("postgresql+psycopg://", "postgresql://"),
            "--mark",
            str(mark),
            "--table",
            PEER_TABLE,
            "--state-dir",
            str(work / "state"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = make_engine(database_url)
    try:
        done = wait_done(
            stack.bootstrap,
            group,
            topic,
            _table_rows(engine, messages),
            timeout_s,
            lambda: process.poll() is None,
        )
    except Unfinished as exc:
        err = _stop(process)
        return {"ran": False, "why": f"the peer did not finish: {exc}; stderr: {err[-1500:]}"}
    finally:
        engine.dispose()
    _stop(process)
    seconds = done - orjson.loads(mark.read_bytes())["first_record"]
    return {
        "ran": True,
        "peer": QUIX_REQUIREMENT,
        "does": "ingest only: one upserted row per message; no validation, revisions or cards",
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1),
    }


def _table_rows(engine: Any, expected: int) -> Any:
    check = rows_at_least(engine, PEER_TABLE, expected)

    def guarded() -> bool:
        try:
            return check()
        except Exception:  # the sink creates its table with the first batch
            return False

    return guarded


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err or ""
