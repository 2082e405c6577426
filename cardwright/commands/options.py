"""Options shared by several subcommands, so each reads and documents the same way, and the
settings every command starts from."""

from __future__ import annotations

from typing import Annotated

import typer

from cardwright import logs
from cardwright.settings import Settings, load_settings

GroupOption = Annotated[
    str | None, typer.Option("--group", help="Consumer group (default: $CARDWRIGHT_GROUP_ID).")
]
TopicOption = Annotated[
    str | None,
    typer.Option("--topic", help="Events topic (default: $CARDWRIGHT_EVENTS_TOPIC)."),
]
BootstrapOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        help="Kafka bootstrap servers (default: $CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout for programs.")]


def command_settings(**overrides: object) -> Settings:
    """A command's settings (environment, then its flags); secrets given as flags are masked in
    log lines like those of the environment (``logs.configure_command`` ran before the command)."""
    settings = load_settings(**overrides)
    logs.remember_secrets(settings)
    return settings
