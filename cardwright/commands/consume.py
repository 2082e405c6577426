"""``cardwright consume``: run one consumer group member, or N under a supervisor."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cardwright import logs
from cardwright.commands.options import GroupOption, TopicOption
from cardwright.health import Operations
from cardwright.producers.kafka_config import client_properties
from cardwright.producers.topics import ensure_topics
from cardwright.schema.errors import DatabaseUnavailable
from cardwright.settings import Settings, load_settings
from cardwright.storage.schema_revision import check_revision
from cardwright.supervisor import supervise
from cardwright.wiring import build_worker, database_engine, instance_name


def consume(
    group: GroupOption = None,
    topic: TopicOption = None,
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
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve /metrics, /livez and /readyz on this port (CARDWRIGHT_METRICS_PORT); "
            "with --workers N, worker i uses PORT+i.",
            min=0,
            max=65535,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Run N member processes in the group, restarting a crashed one with backoff.",
            min=1,
            metavar="N",
        ),
    ] = 1,
) -> None:
    """Consume message events as a member of a consumer group and keep cards current."""
    settings = load_settings(
        group_id=group, events_topic=topic, extractor=extractor, metrics_port=metrics_port
    )
    logs.configure(settings, log_format=settings.log_format, level=settings.log_level)
    # Named from the first line on: the start-up checks log too (alembic, topic creation).
    instance = instance_name()
    logs.bind(instance=instance, group=settings.group_id)
    _check_schema(settings)
    if create_topic:
        ensure_topics(
            settings.kafka_bootstrap_servers,
            settings.events_topic,
            settings.partitions,
            settings.dlq_topic,
            properties=client_properties(settings.kafka),
        )
    if workers > 1:
        raise typer.Exit(supervise(settings, workers, until_idle))
    operations = Operations(settings)
    worker = build_worker(settings, on_event=operations.observer, instance=instance)
    with operations.serving(worker):
        worker.install_signal_handlers()
        worker.run(until_idle_s=until_idle)
    stats = worker.stats
    # A log line, not a bare print: stderr stays one JSON object per line for log shippers.
    logging.getLogger("cardwright.consumer").info(
        "consumed %d events in %d batches; dead-lettered %d; runs %s",
        stats.events,
        stats.batches,
        stats.dead_lettered,
        dict(sorted(stats.runs.items())),
    )


def _check_schema(settings: Settings) -> None:
    """Refuse to start on a database at another schema revision (exit 2, one line).

    An unreachable database is not refused: the member starts paused and waits for it, as it
    does for an outage at run time, and checks its writes then.
    """
    engine = database_engine(settings, pool_size=1)
    try:
        check_revision(engine)
    except DatabaseUnavailable as exc:
        logging.getLogger("cardwright.consumer").warning(
            "cannot check the database schema revision at start-up: %s", exc
        )
    finally:
        engine.dispose()
