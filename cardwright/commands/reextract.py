"""``cardwright reextract``: recompute cards from stored messages, per topic, without Kafka.

Selects topics (one, changed since a time, or failed), then recomputes each through the same
replace transaction and fencing as the consumers (consumers.recompute). ``--dry-run`` prints what
would change, card by card, and writes nothing; with an extractor that spends tokens (llm) it
calls no model and prints instead the tokens re-deriving the selected topics would spend.
Consumer offsets are never touched, so a group that is running goes on as before.

A recompute with another extractor than the one a topic's cards come from is refused (exit 2)
unless ``--allow-other-extractor`` is given: the group re-derives a topic with its own extractor on
the topic's next event, so the two would overwrite each other's cards back and forth. Changing
extractors is the group's job: run it with the new ``CARDWRIGHT_EXTRACTOR`` and replay.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy import Engine

from cardwright import logs
from cardwright.commands.options import JsonOption, command_settings
from cardwright.consumers.extraction import TopicExtraction
from cardwright.consumers.recompute import (
    FAILED,
    MISSING,
    UNCHANGED,
    Recompute,
    TopicRecompute,
)
from cardwright.progress import progress
from cardwright.schema.card_diff import CardFace
from cardwright.schema.cards import TopicKey
from cardwright.schema.errors import ConfigurationError
from cardwright.storage.engine import translate_errors
from cardwright.storage.selection import (
    changed_since,
    failed_after_cards,
    one_topic,
    other_extractors,
)
from cardwright.wiring import database_engine, instance_name

_MODES = "--topic | --since | --failed"
EXIT_FAILED = 1


def reextract(
    user: Annotated[
        str | None, typer.Option(help="The user; required with --topic, narrows the others.")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="One topic of --user.")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="ISO",
            help="Topics with a message stored, or cards replaced, at or after this time by "
            "the database's clock (not the events' occurred_at), with a timezone: "
            "2026-11-01T00:00:00Z.",
        ),
    ] = None,
    failed: Annotated[
        bool,
        typer.Option("--failed", help="Topics with a failed extraction newer than their cards."),
    ] = False,
    extractor: Annotated[
        str | None, typer.Option(help="Extractor, name or name@version (CARDWRIGHT_EXTRACTOR).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the card changes; write nothing.")
    ] = False,
    allow_other_extractor: Annotated[
        bool,
        typer.Option(
            "--allow-other-extractor",
            help="Write cards with an extractor other than the one a topic's cards come from. "
            "A running group re-derives the topic with its own on its next event; to change "
            "extractors, run the group with the new CARDWRIGHT_EXTRACTOR and replay instead.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Recompute topics' cards from their stored messages, without touching Kafka offsets.

    Give exactly one of --topic (with --user), --since or --failed.

    A changed topic gets one new run (or its earlier run of that input); others get none.

    Exit status: 0 done; 1 a topic failed or is missing, database error; 2 usage error, or
    another extractor than the cards' without --allow-other-extractor.
    """
    since_at = _selection(user, topic, since, failed)
    settings = command_settings(extractor=extractor)
    instance = f"reextract-{instance_name()}"
    logs.bind(instance=instance)
    engine = database_engine(settings, pool_size=2)
    extraction = TopicExtraction(engine, settings.extractor, instance, settings.extract_timeout_s)
    try:
        with translate_errors():  # an unreachable database is one clear line, not a traceback
            if topic is not None and user is not None:
                keys = one_topic(engine, user, topic) or [(user, topic)]  # reported as missing
            elif since_at is not None:
                keys = changed_since(engine, since_at, user)
            else:
                keys = failed_after_cards(engine, user)
            if not dry_run and not allow_other_extractor:
                _refuse_other_extractors(engine, keys, extraction.extractor.extractor_id)
        results = _recompute(Recompute(engine, extraction), keys, dry_run)
    finally:
        extraction.close()
        engine.dispose()
    extractor_id = extraction.extractor.extractor_id
    if json_output:
        typer.echo(json.dumps(_as_json(extractor_id, results, dry_run)))
    else:
        _print(extractor_id, results, dry_run)
    if any(r.status in (FAILED, MISSING) for r in results):
        raise typer.Exit(EXIT_FAILED)


def _selection(
    user: str | None, topic: str | None, since: str | None, failed: bool
) -> datetime | None:
    given = [n for n, v in (("--topic", topic), ("--since", since), ("--failed", failed)) if v]
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none"
        raise typer.BadParameter(f"give exactly one selection ({found})", param_hint=_MODES)
    if topic is not None and user is None:
        raise typer.BadParameter("--topic needs --user", param_hint="'--user'")
    if since is None:
        return None
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise typer.BadParameter(
            f"not an ISO 8601 time: {since!r}", param_hint="'--since'"
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(
            f"{since!r} has no timezone (add Z or +01:00)", param_hint="'--since'"
        )
    return moment


def _refuse_other_extractors(engine: Engine, keys: list[TopicKey], extractor_id: str) -> None:
    """Refuse (exit 2) when a selected topic's cards come from another extractor; a dry run
    writes nothing, so it may preview any extractor."""
    others = other_extractors(engine, keys, extractor_id)
    if not others:
        return
    count = sum(len(found) for found in others.values())
    user_id, topic_id = next(iter(others.values()))[0]
    raise ConfigurationError(
        f"refusing to re-extract {count} topic(s) (e.g. {user_id}/{topic_id}) whose cards come "
        f"from {', '.join(sorted(others))} with {extractor_id}: the running group would re-derive "
        f"each with its own extractor on the topic's next event and the two would overwrite "
        f"each other; run the group with CARDWRIGHT_EXTRACTOR={extractor_id} and replay it, "
        f"or pass --allow-other-extractor"
    )


def _recompute(recompute: Recompute, keys: list[TopicKey], dry_run: bool) -> list[TopicRecompute]:
    step = recompute.preview if dry_run else recompute.apply
    results = []
    label = "previewing" if dry_run else "re-extracting"
    with progress(label, total=len(keys)) as advance:
        for key in keys:
            results.append(step(key))
            advance(1)
    return results


def _as_json(extractor_id: str, results: list[TopicRecompute], dry_run: bool) -> dict[str, object]:
    document: dict[str, object] = {
        "extractor": extractor_id,
        "dry_run": dry_run,
        "summary": dict(Counter(r.status for r in results)),
        "topics": [r.as_dict() for r in results],
    }
    estimate = _estimate(results)
    if estimate is not None:
        document["estimated_tokens"] = {
            "prompt": estimate[0],
            "completion_at_most": estimate[1],
            "calls": estimate[2],
        }
    return document


def _estimate(results: list[TopicRecompute]) -> tuple[int, int, int] | None:
    """Prompt tokens, most completion tokens and calls a re-derivation would spend."""
    estimates = [r.estimate for r in results if r.estimate is not None]
    if not estimates:
        return None
    return (
        sum(e.prompt_tokens for e in estimates),
        sum(e.completion_tokens for e in estimates),
        sum(e.calls for e in estimates),
    )


def _print(extractor_id: str, results: list[TopicRecompute], dry_run: bool) -> None:
    for r in results:
        if r.status == UNCHANGED:
            continue
        line = f"{r.user_id}/{r.topic_id}: {r.status}"
        if r.diff is not None:
            counts = r.diff.counts()
            line += f" (+{counts['added']} -{counts['removed']} ~{counts['changed']} cards)"
        if r.error:
            line += f": {r.error}"
        if r.estimate is not None:
            line += (
                f" (about {r.estimate.prompt_tokens} prompt tokens, at most "
                f"{r.estimate.completion_tokens} completion)"
            )
        typer.echo(line)
        if r.diff is not None:
            for card in r.diff.added:
                typer.echo(f"  + {card.kind}: {card.title}")
            for card in r.diff.removed:
                typer.echo(f"  - {card.kind}: {card.title}")
            for before, after in r.diff.changed:
                typer.echo(f"  ~ {after.kind}: {after.title} ({_what_changed(before, after)})")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r.status for r in results).items()))
    estimate = _estimate(results)
    if estimate is not None:
        prompt, completion, calls = estimate
        typer.echo(
            f"estimate: {calls} model call(s), about {prompt} prompt tokens and at most "
            f"{completion} completion tokens (nothing was sent to the model)"
        )
    typer.echo(
        f"{len(results)} topic(s) with {extractor_id}: {summary or 'none selected'}"
        + ("; dry run, nothing written" if dry_run else "")
    )


def _what_changed(before: CardFace, after: CardFace) -> str:
    parts = [
        name for name in ("body", "message_ids") if getattr(before, name) != getattr(after, name)
    ]
    return ", ".join(parts)
