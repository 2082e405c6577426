"""``cardwright cards`` and ``cardwright runs``: read cards and extract runs."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cardwright.commands.options import JsonOption, command_settings
from cardwright.storage.engine import translate_errors
from cardwright.storage.queries import (
    TopicCards,
    cards_by_conversation,
    cards_by_topic,
    runs_of_topic,
)
from cardwright.wiring import database_engine

User = Annotated[str, typer.Option("--user", help="The user who owns the conversation.")]


def cards(
    user: User,
    topic: Annotated[str | None, typer.Option(help="Cards of one topic.")] = None,
    conversation: Annotated[
        str | None, typer.Option(help="Cards of every topic of a conversation, topic by topic.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a topic's cards, or each topic's complete card set in a conversation."""
    if (topic is None) == (conversation is None):
        raise typer.BadParameter("give exactly one of --topic or --conversation")
    engine = database_engine(command_settings())
    with translate_errors():
        if topic is not None:
            found = cards_by_topic(engine, user, topic)
            sets = [found] if found is not None else []
        else:
            sets = cards_by_conversation(engine, user, conversation or "")
    engine.dispose()
    if as_json:
        typer.echo(json.dumps([_jsonable(s) for s in sets], indent=2, default=str))
        return
    if not sets:
        typer.echo("no cards: unknown topic or conversation", err=True)
        return
    console = Console()
    for card_set in sets:
        table = Table(
            title=f"topic {card_set.topic_id} (conversation {card_set.conversation_id}, "
            f"run {card_set.run_id})",
            title_justify="left",
        )
        for column in ("kind", "title", "messages"):
            table.add_column(column)
        for card in card_set.cards:
            table.add_row(card.kind, card.title, ",".join(card.message_ids))
        console.print(table)


def runs(
    user: User,
    topic: Annotated[str, typer.Option(help="The topic whose runs to list.")],
    as_json: JsonOption = False,
) -> None:
    """List a topic's successful extract runs, oldest first; the current one is marked.

    Runs of a model-backed extractor show the model and its prompt and completion tokens."""
    engine = database_engine(command_settings())
    with translate_errors():
        rows = runs_of_topic(engine, user, topic)
    engine.dispose()
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(r) for r in rows], indent=2, default=str))
        return
    table = Table(title=f"runs of topic {topic}", title_justify="left")
    metered = any(r.model is not None for r in rows)
    columns = ["run", "current", "extractor", "state", "messages", "cards", "ms", "at"]
    if metered:
        columns += ["prompt", "completion"]  # tokens
    for column in columns:
        table.add_column(column)
    for r in rows:
        cells = [
            str(r.run_id),
            "*" if r.current else "",
            r.extractor_id,
            str(r.state_version),
            str(r.message_count),
            str(r.card_count),
            str(r.extract_ms),
            r.created_at.isoformat(timespec="seconds"),
        ]
        if metered:
            cells += [_count(r.prompt_tokens), _count(r.completion_tokens)]
        table.add_row(*cells)
    Console().print(table)
    if metered:
        prompt = sum(r.prompt_tokens or 0 for r in rows)
        completion = sum(r.completion_tokens or 0 for r in rows)
        typer.echo(f"{len(rows)} run(s): {prompt} prompt + {completion} completion tokens")


def _count(tokens: int | None) -> str:
    return "" if tokens is None else str(tokens)


def _jsonable(card_set: TopicCards) -> dict[str, Any]:
    return dataclasses.asdict(card_set)
