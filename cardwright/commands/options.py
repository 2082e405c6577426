"""Options shared by several subcommands, so each reads and documents the same way."""

from __future__ import annotations

from typing import Annotated

import typer

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
