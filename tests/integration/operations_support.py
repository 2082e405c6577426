"""Helpers for the operations tests: a consumer with a metrics port, scraping, probes, replay."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# One scrape or probe on 127.0.0.1 answers in milliseconds; a busy machine may take longer.
HTTP_TIMEOUT_S = 5.0


def start_with_metrics(
    env: dict[str, str], port: int, log: Path, *args: str
) -> subprocess.Popen[bytes]:
    """`cardwright consume --metrics-port PORT`, its stderr (JSON log lines) into ``log``: a
    file, not a pipe, so a long run cannot block on a full pipe."""
    sink = log.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "cardwright", "consume", "--metrics-port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    finally:
        sink.close()  # the child holds its own descriptor


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``/metrics`` by (name, labels); empty when nothing answers yet."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/metrics", timeout=HTTP_TIMEOUT_S
        ) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(port: int, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (a counter never incremented)."""
    return scrape(port).get((name, frozenset(labels.items())), 0.0)


def total(port: int, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scrape(port).items() if n == name and wanted <= ls)


def series(port: int, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every series of ``name`` whose labels include ``labels``, by its labels."""
    wanted = set(labels.items())
    return {ls: v for (n, ls), v in scrape(port).items() if n == name and wanted <= ls}


def probe(port: int, path: str) -> tuple[int, dict[str, object]]:
    """(HTTP status, JSON body) of /livez or /readyz; (0, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}{path}", timeout=HTTP_TIMEOUT_S
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def replay_to_earliest(bootstrap: str, group: str, topic: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cardwright",
            "replay",
            "--group",
            group,
            "--topic",
            topic,
            "--to-earliest",
            "--bootstrap-servers",
            bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def log_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a consumer's stderr; a line that is not JSON fails the test."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
