"""The stack with Docker: ``docker compose`` on the repository's compose.yaml.

Used when a Docker engine answers (or ``--mode docker``). The compose file reads the same
``CARDWRIGHT_STACK_*_PORT`` variables as the native stack, so both publish the same endpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cardwright.schema.errors import ConfigurationError, RetryableError
from cardwright.stack.config import StackConfig
from cardwright.stack.procs import say

PROJECT = "cardwright"
# `docker info` answers in well under a second when an engine runs; a hung socket must not make
# every `stack` command hang with it.
DOCKER_INFO_TIMEOUT_S = 10
# First `up` may pull two images (~500 MB); the services then need ~30 s to turn healthy.
COMPOSE_UP_TIMEOUT_S = 900
COMPOSE_DOWN_TIMEOUT_S = 120


def docker_answers() -> bool:
    """True if a Docker engine answers (the client alone is not enough)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "info"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=DOCKER_INFO_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def compose_file() -> Path:
    """compose.yaml of the working directory, else of the checkout this package runs from."""
    for candidate in (Path.cwd() / "compose.yaml", Path(__file__).parents[2] / "compose.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigurationError(
        "compose.yaml not found: run from the cardwright checkout, or use --mode native"
    )


def _compose(config: StackConfig, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CARDWRIGHT_STACK_KAFKA_PORT": str(config.kafka_port),
        "CARDWRIGHT_STACK_POSTGRES_PORT": str(config.postgres_port),
    }
    return subprocess.run(
        ["docker", "compose", "-p", PROJECT, "-f", str(compose_file()), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def up(config: StackConfig) -> None:
    say(f"docker: starting Kafka and PostgreSQL from {compose_file()}")
    result = _compose(config, "up", "-d", "--wait", timeout_s=COMPOSE_UP_TIMEOUT_S)
    if result.returncode != 0:
        raise RetryableError(f"docker compose up failed:\n{result.stderr.strip()}")
    say(f"docker: Kafka on {config.bootstrap}, PostgreSQL on 127.0.0.1:{config.postgres_port}")


def down(config: StackConfig, *, purge: bool) -> None:
    say("docker: stopping the compose services" + (" and removing volumes" if purge else ""))
    args = ["down", "--volumes"] if purge else ["down"]
    result = _compose(config, *args, timeout_s=COMPOSE_DOWN_TIMEOUT_S)
    if result.returncode != 0:
        raise RetryableError(f"docker compose down failed:\n{result.stderr.strip()}")


def services(config: StackConfig) -> list[dict[str, Any]]:
    """The compose services as `docker compose ps` reports them (one JSON object each)."""
    result = _compose(config, "ps", "--format", "json", timeout_s=COMPOSE_DOWN_TIMEOUT_S)
    if result.returncode != 0:
        return []
    text = result.stdout.strip()
    if not text:
        return []
    # Compose v2 prints one object per line; older releases printed a single JSON array.
    if text.startswith("["):
        parsed: list[dict[str, Any]] = json.loads(text)
        return parsed
    return [json.loads(line) for line in text.splitlines() if line.strip()]
