"""``cardwright replay``: move a stopped consumer group's committed offsets on the events topic.

The modes and their edge rules are those of ``kafka-consumer-groups --reset-offsets`` (see
``consumers.replay_plan``). Replaying with the same extractor re-derives nothing: the source hash
makes every topic a no-op; a new extractor version re-derives the cards of every replayed topic.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cardwright.commands.options import (
    BootstrapOption,
    GroupOption,
    JsonOption,
    TopicOption,
    command_settings,
)
from cardwright.consumers.group_admin import GroupAdmin, GroupInfo
from cardwright.consumers.replay_plan import (
    InvalidReplaySpec,
    PlanEntry,
    ResetMode,
    ShiftBy,
    ToDatetime,
    ToEarliest,
    ToLatest,
    ToOffsets,
    parse_datetime_ms,
    parse_offsets,
    plan_reset,
)
from cardwright.producers.kafka_config import client_properties
from cardwright.producers.reach import require_reachable
from cardwright.progress import progress

_MODES = "--to-earliest | --to-latest | --to-offset | --to-datetime | --shift-by"


def replay(
    group: GroupOption = None,
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="Every partition to its first offset.")
    ] = False,
    to_latest: Annotated[
        bool, typer.Option("--to-latest", help="Every partition to its end (skip the backlog).")
    ] = False,
    to_offset: Annotated[
        str | None,
        typer.Option(
            metavar="P:N[,P:N]",
            help="Named partitions to the given offsets (clamped to the log); others untouched.",
        ),
    ] = None,
    to_datetime: Annotated[
        str | None,
        typer.Option(
            metavar="ISO",
            help="Every partition to its first record at or after this time; the time needs a "
            "timezone (2024-05-01T12:00:00Z). Partitions with no such record go to the end.",
        ),
    ] = None,
    shift_by: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Every partition by N from its committed offset (negative re-reads), clamped "
            "to the log. Refused for partitions the group never committed.",
        ),
    ] = None,
    topic: TopicOption = None,
    bootstrap_servers: BootstrapOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan, change nothing.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Reset a consumer group's committed offsets so it re-reads (or skips) events.

    Give exactly one mode. The group must have no active members (EMPTY or DEAD).

    --dry-run shows the plan, even while the group runs, and changes nothing.

    Exit status: 0 planned or applied; 1 group active, no offset to shift, Kafka error; 2 usage.
    """
    mode = _mode(to_earliest, to_latest, to_offset, to_datetime, shift_by)
    settings = command_settings(
        kafka_bootstrap_servers=bootstrap_servers, group_id=group, events_topic=topic
    )
    group_id, topic_name = settings.group_id, settings.events_topic
    properties = client_properties(settings.kafka)
    require_reachable(properties)  # a dead cluster: one clear line, not a wait per request
    admin = GroupAdmin(properties)
    # Three broker round trips (group, offsets, times); on a terminal a bar shows which one waits.
    with progress(f"reading group {group_id}", total=3) as advance:
        # A dry run is a planning tool, so it may look at a running group; a real reset may not.
        info = admin.describe_group(group_id) if dry_run else admin.require_inactive(group_id)
        advance(1)
        partitions = admin.offsets(group_id, topic_name)
        advance(1)
        time_offsets = None
        if isinstance(mode, ToDatetime):
            time_offsets = admin.offsets_for_time(
                topic_name, [p.partition for p in partitions], mode.timestamp_ms
            )
        advance(1)
    try:
        plan = plan_reset(mode, partitions, time_offsets=time_offsets)
    except InvalidReplaySpec as exc:
        raise typer.BadParameter(exc.detail, param_hint=f"'{exc.option}'") from None
    if not dry_run:
        admin.apply(group_id, topic_name, plan)
    if json_output:
        typer.echo(json.dumps(_as_json(group_id, topic_name, mode, info, plan, dry_run)))
    else:
        _print(group_id, topic_name, mode, info, plan, dry_run)


def _mode(
    to_earliest: bool,
    to_latest: bool,
    to_offset: str | None,
    to_datetime: str | None,
    shift_by: int | None,
) -> ResetMode:
    given = [
        name
        for name, present in (
            ("--to-earliest", to_earliest),
            ("--to-latest", to_latest),
            ("--to-offset", to_offset is not None),
            ("--to-datetime", to_datetime is not None),
            ("--shift-by", shift_by is not None),
        )
        if present
    ]
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none"
        raise typer.BadParameter(f"give exactly one mode ({found})", param_hint=_MODES)
    try:
        if to_offset is not None:
            return ToOffsets(parse_offsets(to_offset))
        if to_datetime is not None:
            return ToDatetime(parse_datetime_ms(to_datetime))
    except InvalidReplaySpec as exc:
        raise typer.BadParameter(exc.detail, param_hint=f"'{exc.option}'") from None
    if shift_by is not None:
        return ShiftBy(shift_by)
    return ToEarliest() if to_earliest else ToLatest()


def _as_json(
    group: str,
    topic: str,
    mode: ResetMode,
    info: GroupInfo,
    plan: list[PlanEntry],
    dry_run: bool,
) -> dict[str, object]:
    return {
        "group": group,
        "topic": topic,
        "mode": mode.name,
        "dry_run": dry_run,
        "applied": not dry_run,
        "group_state": info.state,
        "members": [str(m) for m in info.members],
        "partitions": [
            {"partition": e.partition, "current": e.current, "target": e.target, "note": e.note}
            for e in plan
        ],
    }


def _print(
    group: str,
    topic: str,
    mode: ResetMode,
    info: GroupInfo,
    plan: list[PlanEntry],
    dry_run: bool,
) -> None:
    console = Console()
    table = Table(title=f"group {group} on {topic}: {mode.name}")
    table.add_column("partition", justify="right")
    table.add_column("current", justify="right")
    table.add_column("target", justify="right")
    table.add_column("moves", justify="right")
    table.add_column("note")
    for e in plan:
        moves = "-" if e.current is None else f"{e.target - e.current:+d}"
        current = "-" if e.current is None else str(e.current)
        table.add_row(str(e.partition), current, str(e.target), moves, e.note)
    console.print(table)
    if not dry_run:
        console.print(f"applied: {len(plan)} partition(s) of group {group} reset")
        return
    console.print("dry run: nothing applied")
    if not info.inactive:
        console.print(
            f"note: group {group} is {info.state} with {len(info.members)} member(s); "
            "stop them before applying this plan"
        )
