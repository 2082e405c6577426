"""``cardwright consume``: run one consumer group member."""

from __future__ import annotations

from typing import Annotated

import typer

from cardwright.settings import load_settings
from cardwright.wiring import build_worker
from producers.kafka_config import client_properties
from producers.topics import ensure_topics


def consume(
    group: Annotated[str | None, typer.Option(help="Consumer group (CARDWRIGHT_GROUP_ID).")] = None,
    topic: Annotated[
        str | None, typer.Option(help="Events topic (CARDWRIGHT_EVENTS_TOPIC).")
    ] = None,
    until_idle: Annotated[
        float | None,
        typer.Option(
            help="Exit 0 once caught up, nothing pending, and no record arrived for SECONDS.",
            metavar="SECONDS",
        ),
    ] = None,
    extractor: Annotated[
        str | None, typer.Option(help="Extractor name (CARDWRIGHT_EXTRACTOR).")
    ] = None,
    create_topic: Annotated[
        bool, typer.Option(help="Create the events and DLQ topics if missing.")
    ] = True,
) -> None:
    """Consume message events as a member of a consumer group and keep cards current."""
    settings = load_settings(group_id=group, events_topic=topic, extractor=extractor)
    if create_topic:
        ensure_topics(
            settings.kafka_bootstrap_servers,
            settings.events_topic,
            settings.partitions,
            settings.dlq_topic,
            properties=client_properties(settings),
        )
    worker = build_worker(settings)
    worker.install_signal_handlers()
    worker.run(until_idle_s=until_idle)
    stats = worker.stats
    typer.echo(
        f"consumed {stats.events} events in {stats.batches} batches; "
        f"dead-lettered {stats.dead_lettered}; runs {dict(sorted(stats.runs.items()))}",
        err=True,
    )
