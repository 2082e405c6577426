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

from cardwright.producers.replication import replication_for
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


# compose.yaml knows one broker and three (the profile "cluster").
COMPOSE_BROKERS = (1, 3)


def cluster_environment(config: StackConfig) -> dict[str, str]:
    """The compose.yaml variables for ``config``: ports, and for three brokers the quorum, the
    cluster's own volume and the replication of Kafka's topics (see compose.yaml's header)."""
    if config.brokers not in COMPOSE_BROKERS:
        raise ConfigurationError(
            f"compose.yaml runs 1 or 3 brokers, not {config.brokers}; use --mode native"
        )
    env = {
        "CARDWRIGHT_STACK_KAFKA_PORT": str(config.kafka_port),
        "CARDWRIGHT_STACK_POSTGRES_PORT": str(config.postgres_port),
    }
    if config.brokers == 1:
        return env
    replication = replication_for(config.brokers)
    return env | {
        "COMPOSE_PROFILES": "cluster",
        "CARDWRIGHT_STACK_KAFKA_PORT_2": str(config.client_port(2)),
        "CARDWRIGHT_STACK_KAFKA_PORT_3": str(config.client_port(3)),
        "CARDWRIGHT_STACK_KAFKA_VOTERS": "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093",
        "CARDWRIGHT_STACK_KAFKA_INTERNAL_HOST": "kafka",
        "CARDWRIGHT_STACK_KAFKA_VOLUME": "kafka-1-data",
        "CARDWRIGHT_STACK_REPLICATION": str(replication.factor),
        "CARDWRIGHT_STACK_MIN_INSYNC": str(replication.min_insync),
    }


def _compose(config: StackConfig, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **cluster_environment(config)}
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
    brokers = f"{config.brokers} Kafka brokers" if config.brokers > 1 else "Kafka"
    say(f"docker: starting {brokers} and PostgreSQL from {compose_file()}")
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
