"""``cardwright stack``: start, stop and inspect the local Kafka + PostgreSQL stack.

stdout carries only what a program or shell reads (``export`` lines, ``--json``); progress goes to
stderr, so ``eval "$(cardwright stack up)"`` works. Where a Docker engine answers, compose.yaml is
used; otherwise Kafka and PostgreSQL run natively (see native.py).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from cardwright.schema.errors import ConfigurationError
from cardwright.stack import compose, native, native_kafka, native_postgres
from cardwright.stack.config import KAFKA_VERSION, Mode, StackConfig, check_ports, load_config
from cardwright.stack.procs import say

# `status` exits with 3 when the stack is not (fully) running, as `systemctl status` does, so a
# script can ask "is it up?" without parsing output.
EXIT_NOT_RUNNING = 3

# The entries a state directory made by the stack may hold; `down --purge` deletes nothing else.
STATE_ENTRIES = frozenset({"kafka", "postgres", "stack.lock"})

app = typer.Typer(
    help=(
        "Run a local Kafka (KRaft) and PostgreSQL for development and tests: with Docker compose "
        "where a Docker engine runs, natively otherwise. Settings: CARDWRIGHT_STATE_DIR, "
        "CARDWRIGHT_STACK_KAFKA_PORT, CARDWRIGHT_STACK_POSTGRES_PORT, CARDWRIGHT_STACK_MODE, "
        "CARDWRIGHT_STACK_BROKERS."
    ),
    no_args_is_help=True,
    add_completion=False,
)

ModeOption = Annotated[
    Mode | None,
    typer.Option(
        "--mode",
        help="auto: Docker compose if a Docker engine answers, else native. "
        "[default: CARDWRIGHT_STACK_MODE or auto]",
        case_sensitive=False,
        show_default=False,
    ),
]


BrokersOption = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        min=1,
        help="Kafka brokers: 1 for development, 3 for a cluster like production (replication "
        "3, min.insync.replicas 2). [default: CARDWRIGHT_STACK_BROKERS, else what the state "
        "directory holds, else 1]",
        show_default=False,
    ),
]


def _config(mode: Mode | None, brokers: int | None = None) -> StackConfig:
    config = load_config()
    if mode is not None:
        config = dataclasses.replace(config, mode=mode)
    if brokers is not None:
        config = dataclasses.replace(config, brokers=brokers)
        check_ports(config)
    return config


def _use_docker(config: StackConfig) -> bool:
    if config.mode is Mode.NATIVE:
        return False
    answers = compose.docker_answers()
    if config.mode is Mode.DOCKER and not answers:
        raise ConfigurationError(
            "--mode docker, but no Docker engine answers `docker info`; start Docker or use "
            "--mode native"
        )
    return answers


@app.command()
def up(mode: ModeOption = None, brokers: BrokersOption = None) -> None:
    """Start Kafka and PostgreSQL (if not running), wait until both answer, print exports.

    Safe to run again: a running stack is reused. Usage: eval "$(cardwright stack up)".
    """
    config = _config(mode, brokers)
    if _use_docker(config):
        compose.up(config)
    else:
        native.up(config)
    for line in config.exports():
        print(line)


@app.command()
def down(
    mode: ModeOption = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete all data (state directory / volumes).")
    ] = False,
) -> None:
    """Stop Kafka and PostgreSQL; no process of the stack is left running."""
    config = _config(mode)
    if config.mode is not Mode.DOCKER:
        native.down(config)
        if purge:
            _purge(config.state_dir)
    if config.mode is not Mode.NATIVE and _use_docker(config):
        compose.down(config, purge=purge)


def _purge(state_dir: Path) -> None:
    if not state_dir.exists():
        return
    unknown = sorted(p.name for p in state_dir.iterdir() if p.name not in STATE_ENTRIES)
    if unknown:
        raise ConfigurationError(
            f"not deleting {state_dir}: it holds entries the stack did not make: "
            + ", ".join(unknown)
        )
    shutil.rmtree(state_dir)
    say(f"deleted {state_dir}")


def _status_document(config: StackConfig) -> dict[str, Any]:
    state = native.status(config)
    document: dict[str, Any] = {
        "running": state.running,
        "state_dir": str(config.state_dir),
        "kafka": {
            "running": state.kafka.running,
            "pid": state.kafka.pid,
            "bootstrap": state.kafka.bootstrap,
            "version": KAFKA_VERSION,
            "data_dir": str(state.kafka.data_dir),
            "log": str(state.kafka.log),
            "brokers": [
                {
                    "node": node.node,
                    "running": node.running,
                    "pid": node.pid,
                    "bootstrap": node.bootstrap,
                    "data_dir": str(node.data_dir),
                    "log": str(node.log),
                }
                for node in state.kafka.nodes
            ],
        },
        "postgres": {
            "running": state.postgres.running,
            "pid": state.postgres.pid,
            "port": state.postgres.port,
            "database_url": config.database_url,
            "data_dir": str(state.postgres.data_dir),
            "log": str(state.postgres.log),
        },
    }
    if config.mode is not Mode.NATIVE and compose.docker_answers():
        containers = compose.services(config)
        document["docker"] = containers
        if containers and all(c.get("State") == "running" for c in containers):
            document["running"] = True
    return document


@app.command()
def status(
    mode: ModeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show what runs where (pid, port, data dir). Exit code 3 if the stack is not running."""
    config = _config(mode)
    document = _status_document(config)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        for name in ("kafka", "postgres"):
            service = document[name]
            where = service.get("bootstrap") or f"127.0.0.1:{service['port']}"
            state = f"running (pid {service['pid']})" if service["running"] else "stopped"
            print(f"{name:<9} {state:<22} {where:<17} data {service['data_dir']}")
        for container in document.get("docker", []):
            print(f"docker    {container.get('Service')}: {container.get('Status')}")
    if not document["running"]:
        raise typer.Exit(EXIT_NOT_RUNNING)


@app.command()
def env() -> None:
    """Print the export lines that point cardwright at the stack (does not start it)."""
    for line in load_config().exports():
        print(line)


@app.command()
def fetch() -> None:
    """Check the native stack's prerequisites and download the Kafka jars (once, with Maven)."""
    config = load_config()
    java = native_kafka.find_java()
    libs = native_kafka.resolve_jars(config)
    bindir = native_postgres.find_bindir()
    say(f"java: {java}")
    say(f"kafka {KAFKA_VERSION}: {libs}")
    say(f"postgresql: {bindir}")
