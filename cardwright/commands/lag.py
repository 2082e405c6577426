"""``cardwright lag``: how far a consumer group is behind on the events topic, per partition.

Lag counts records between the group's committed offset and the log end; a partition the group
never committed shows ``-`` and counts every record still on the broker.
"""

from __future__ import annotations

import json

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
from cardwright.consumers.group_admin import GroupAdmin
from cardwright.consumers.replay_plan import compute_lag
from cardwright.producers.kafka_config import client_properties
from cardwright.producers.reach import require_reachable


def lag(
    group: GroupOption = None,
    topic: TopicOption = None,
    bootstrap_servers: BootstrapOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show per partition the committed offset, the end offset, the lag, and the total.

    Exit status: 0 shown; 1 unknown topic or Kafka error; 2 usage error.
    """
    settings = command_settings(
        kafka_bootstrap_servers=bootstrap_servers, group_id=group, events_topic=topic
    )
    properties = client_properties(settings.kafka)
    require_reachable(properties)  # a dead cluster: one clear line, not a wait per request
    admin = GroupAdmin(properties)
    entries = compute_lag(admin.offsets(settings.group_id, settings.events_topic))
    total = sum(e.lag for e in entries)
    if json_output:
        document = {
            "group": settings.group_id,
            "topic": settings.events_topic,
            "partitions": [
                {"partition": e.partition, "committed": e.committed, "end": e.end, "lag": e.lag}
                for e in entries
            ],
            "total_lag": total,
        }
        typer.echo(json.dumps(document))
        return
    table = Table(title=f"group {settings.group_id} on {settings.events_topic}")
    for name in ("partition", "committed", "end", "lag"):
        table.add_column(name, justify="right")
    for e in entries:
        committed = "-" if e.committed is None else str(e.committed)
        table.add_row(str(e.partition), committed, str(e.end), str(e.lag))
    table.add_section()
    table.add_row("total", "", "", str(total))
    Console().print(table)
