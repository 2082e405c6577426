"""``cardwright dlq``: list, show and redrive the dead-lettered records of ``<events topic>.dlq``.

``list`` and ``show`` only read (no group is joined, no offset committed). ``redrive`` publishes
each selected record's original value back to the events topic, keyed by its ``topic_id``, with
the publisher's producer settings (idempotent, ``acks=all``, murmur2) and a
``cardwright.redriven-from`` header; the decisions are in ``consumers.redrive``, the selection in
``consumers.dlq_read``, the reading in ``consumers.dlq_topic``. A record redriven twice is
applied once: members store a message by its highest ``(revision, event_id)``.

A source record dead-lettered more than once (a replay re-reads it, and a member dead-letters it
again) is one entry: ``list`` shows its first copy with ``copies=N``, and ``redrive`` publishes its
first copy only. The DLQ keeps every copy; copies are told apart by their source headers.

Exit status: 0 done; 1 a record not found or not redriven, unknown topic, Kafka error; 2 usage or
configuration error.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Generator, Mapping
from contextlib import closing
from typing import Annotated

import typer
from confluent_kafka import KafkaError, KafkaException, Producer

from cardwright.commands.options import BootstrapOption, JsonOption, TopicOption
from cardwright.consumers.dlq_read import (
    DeadLetter,
    InvalidSelection,
    Selector,
    SourceCopies,
    bytes_text,
    details,
    make_selector,
    parse_position,
    summary,
    summary_line,
    time_text,
    value_preview,
)
from cardwright.consumers.dlq_topic import DlqReader
from cardwright.consumers.redrive import Redrive, Skip, plan_redrive
from cardwright.producers.kafka_config import PropertyValue, client_config, client_properties
from cardwright.producers.publisher import producer_config
from cardwright.progress import progress
from cardwright.schema.errors import ConfigurationError, KafkaUnavailable
from cardwright.settings import Settings, load_settings

EXIT_INCOMPLETE = 1

app = typer.Typer(
    help="List, show and redrive dead-lettered records (<events topic>.dlq).",
    no_args_is_help=True,
    add_completion=False,
)

ReasonOption = Annotated[
    list[str] | None,
    typer.Option(
        "--reason", metavar="R", help="Only this reason (e.g. key_mismatch); repeat for several."
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        metavar="ISO",
        help="Only records dead-lettered at or after this time (with a timezone: "
        "2026-11-01T12:00:00Z).",
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(metavar="ISO", help="Only records dead-lettered before this time."),
]
SourcePartitionOption = Annotated[
    int | None,
    typer.Option(metavar="P", help="Only records that came from this events-topic partition."),
]
FromOffsetOption = Annotated[
    int | None,
    typer.Option(metavar="N", help="Only records whose source offset is at least N."),
]
ToOffsetOption = Annotated[
    int | None,
    typer.Option(metavar="M", help="Only records whose source offset is at most M."),
]


def _selector(
    reason: list[str] | None,
    since: str | None,
    until: str | None,
    source_partition: int | None,
    from_offset: int | None,
    to_offset: int | None,
) -> Selector:
    try:
        return make_selector(
            reasons=reason or (),
            since=since,
            until=until,
            source_partition=source_partition,
            from_offset=from_offset,
            to_offset=to_offset,
        )
    except InvalidSelection as exc:
        raise typer.BadParameter(exc.detail, param_hint=f"'{exc.option}'") from None


def _settings(topic: str | None, bootstrap_servers: str | None) -> Settings:
    return load_settings(kafka_bootstrap_servers=bootstrap_servers, events_topic=topic)


def _selected(
    reader: DlqReader, selector: Selector, what: str
) -> Generator[DeadLetter, None, None]:
    """The records ``selector`` matches, with a progress bar over the offsets read."""
    ranges = reader.ranges(since_ms=selector.since_ms)
    with progress(f"{what} {reader.topic}", total=sum(r.size for r in ranges)) as advance:
        for record in reader.scan(ranges, advance):
            if selector.matches(record):
                yield record


@app.command("list")
def list_(
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source_partition: SourcePartitionOption = None,
    from_offset: FromOffsetOption = None,
    to_offset: ToOffsetOption = None,
    limit: Annotated[
        int | None,
        typer.Option(metavar="N", min=1, help="Show at most N entries (the first ones)."),
    ] = None,
    topic: TopicOption = None,
    bootstrap_servers: BootstrapOption = None,
    json_output: JsonOption = False,
) -> None:
    """List dead-lettered records, one line each.

    Columns: DLQ PARTITION:OFFSET, time, reason, source TOPIC[PARTITION]@OFFSET, key, size,
    copies=N when the source record was dead-lettered N times (a replay), and the detail,
    shortened. One entry per source record: its first copy. Reads the DLQ up to its end as of
    the start (all of it, to count copies); moves no offset.

    Exit status: 0 listed (also when none match); 1 unknown topic or Kafka error; 2 usage.
    """
    selector = _selector(reason, since, until, source_partition, from_offset, to_offset)
    settings = _settings(topic, bootstrap_servers)
    copies = SourceCopies()
    # The first copy of each source record: its copies may come later in the DLQ, so the lines
    # wait for the end. Held in memory, as a DLQ (bad input only) is small.
    firsts: list[DeadLetter] = []
    with (
        DlqReader(client_properties(settings.kafka), settings.dlq_topic) as reader,
        closing(_selected(reader, selector, "reading")) as records,
    ):
        for record in records:
            if copies.add(record):
                firsts.append(record)
    shown = firsts if limit is None else firsts[:limit]
    count = len(shown)
    found = [summary(record, copies.of(record)) for record in shown] if json_output else []
    if not json_output:
        for record in shown:
            typer.echo(summary_line(record, copies.of(record)))
    if json_output:
        document = {"dlq_topic": settings.dlq_topic, "count": count, "records": found}
        typer.echo(json.dumps(document))
    else:
        _say(f"{count} record(s) listed from {settings.dlq_topic}")


@app.command("show")
def show(
    position: Annotated[
        str, typer.Argument(metavar="DLQ_PARTITION:OFFSET", help="As `dlq list` prints it.")
    ],
    topic: TopicOption = None,
    bootstrap_servers: BootstrapOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one dead-lettered record: every header, the key and the value.

    The value is pretty JSON if it parses, else its first bytes, escaped.

    Exit status: 0 shown; 1 no such record, unknown topic, Kafka error; 2 usage.
    """
    try:
        where = parse_position(position)
    except InvalidSelection as exc:
        raise typer.BadParameter(exc.detail, param_hint=f"'{exc.option}'") from None
    settings = _settings(topic, bootstrap_servers)
    with DlqReader(client_properties(settings.kafka), settings.dlq_topic) as reader:
        record = reader.read(where)
    if json_output:
        typer.echo(json.dumps({"dlq_topic": settings.dlq_topic, **details(record)}))
        return
    lines = [
        f"position   {settings.dlq_topic} {record.position}",
        f"timestamp  {time_text(record.timestamp_ms)}",
        f"reason     {record.reason}",
        f"key        {bytes_text(record.key)}",
        f"size       {record.size} bytes",
    ]
    if record.original_size is not None or record.original_sha256 is not None:
        state = "TRUNCATED copy" if record.truncated else "whole copy"
        lines.append(
            f"original   {state}: {record.original_size} bytes, sha256 {record.original_sha256}"
        )
    lines.append("headers")
    lines.extend(f"  {name}: {bytes_text(value)}" for name, value in record.headers)
    lines.append("value")
    lines.append(value_preview(record.value))
    typer.echo("\n".join(lines))


@app.command("redrive")
def redrive(
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source_partition: SourcePartitionOption = None,
    from_offset: FromOffsetOption = None,
    to_offset: ToOffsetOption = None,
    all_records: Annotated[
        bool, typer.Option("--all", help="Every record in the DLQ (instead of selectors).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be redriven; publish nothing.")
    ] = False,
    topic: TopicOption = None,
    bootstrap_servers: BootstrapOption = None,
    json_output: JsonOption = False,
) -> None:
    """Publish selected records' original values back to the events topic, keyed by topic_id.

    Give at least one selector, or --all. Each redriven record carries the header
    cardwright.redriven-from = DLQ PARTITION:OFFSET.

    Repeating a redrive is safe: a member applies an event once, however often it arrives.
    A source record dead-lettered several times (a replay) is redriven once, from its first copy.

    A truncated copy, or a value with no string topic_id, is not redriven: it is reported and
    the exit status is 1. The DLQ itself is never changed.

    Exit status: 0 every selected record redriven; 1 some not redriven or not delivered, unknown
    topic, Kafka error; 2 usage.
    """
    selector = _selector(reason, since, until, source_partition, from_offset, to_offset)
    if selector.empty and not all_records:
        raise typer.BadParameter(
            "give at least one (--reason, --since, --until, --source-partition, "
            "--from-offset, --to-offset) or --all",
            param_hint="selectors",
        )
    if all_records and not selector.empty:
        raise typer.BadParameter(
            "selects every record; give it without selectors", param_hint="'--all'"
        )
    settings = _settings(topic, bootstrap_servers)
    properties = client_properties(settings.kafka)
    sender = None if dry_run else _RedrivePublisher(properties, settings.events_topic)
    redriven: list[Redrive] = []
    skipped: list[Skip] = []
    copies = SourceCopies()
    duplicates = 0  # later DLQ copies of a source record already redriven (or skipped) here
    with DlqReader(properties, settings.dlq_topic) as reader:
        for record in _selected(reader, selector, "redriving from"):
            if not copies.add(record):
                duplicates += 1
                continue
            plan = plan_redrive(record)
            if isinstance(plan, Skip):
                skipped.append(plan)
                _say(plan.text())
                continue
            if sender is not None:
                sender.send(plan)
            redriven.append(plan)
    failed = sender.flush() if sender is not None else {}
    delivered = [r for r in redriven if str(r.position) not in failed]
    for where, error in failed.items():
        _say(f"{where}: not delivered: {error}")
    if json_output:
        document = {
            "dlq_topic": settings.dlq_topic,
            "topic": settings.events_topic,
            "dry_run": dry_run,
            "selected": len(redriven) + len(skipped),
            "redriven": len(delivered),
            "duplicate_copies": duplicates,
            "failed": [{"position": p, "error": e} for p, e in failed.items()],
            "skipped": [
                {"position": str(s.position), "reason": s.reason, "detail": s.detail}
                for s in skipped
            ],
            "records": [{"position": str(r.position), "key": bytes_text(r.key)} for r in delivered],
        }
        typer.echo(json.dumps(document))
    else:
        verb = "would redrive" if dry_run else "redriven"
        for r in delivered:
            typer.echo(f"{verb} {r.position} key={bytes_text(r.key)}")
        typer.echo(
            f"{'dry run: ' if dry_run else ''}{verb} {len(delivered)} of "
            f"{len(redriven) + len(skipped)} selected record(s) from {settings.dlq_topic} to "
            f"{settings.events_topic}; {len(skipped)} not redrivable, {len(failed)} not delivered"
            + (
                f"; {duplicates} later copies of the same source records left out"
                if duplicates
                else ""
            )
        )
    if skipped or failed:
        raise typer.Exit(EXIT_INCOMPLETE)


# Longest wait for delivery reports: librdkafka reports every record within message.timeout.ms
# (the publisher's 2 minutes); the margin lets that report arrive before we stop waiting.
_FLUSH_LIMIT_S = 150.0
# One Producer.flush() slice: short, so our own in-flight count is re-checked often.
_FLUSH_SLICE_S = 1.0
# How long produce() waits for delivery reports to free room when the local queue is full.
_BUFFER_FULL_POLL_S = 0.1


class _RedrivePublisher:
    """Publishes redriven records with headers, configured exactly as ``producers.publisher``
    configures the events publisher (its ``producer_config``), and remembers which failed."""

    def __init__(self, properties: Mapping[str, PropertyValue], topic: str) -> None:
        self._topic = topic
        self._in_flight = 0
        self._failed: dict[str, str] = {}
        config = client_config(producer_config(properties))
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            message = exc.args[0].str()
            raise ConfigurationError(f"invalid Kafka producer configuration: {message}") from None

    def send(self, record: Redrive) -> None:
        where = str(record.position)

        def delivered(error: KafkaError | None, _message: object) -> None:
            self._in_flight -= 1
            if error is not None:
                self._failed[where] = error.str()

        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    on_delivery=delivered,
                )
                self._in_flight += 1
                break
            except BufferError:
                self._producer.poll(_BUFFER_FULL_POLL_S)
            except KafkaException as exc:
                # e.g. a record larger than message.max.bytes: this one fails, the rest go on.
                self._failed[where] = exc.args[0].str()
                break
        self._producer.poll(0)

    def flush(self) -> dict[str, str]:
        """Wait for every delivery report; the DLQ positions not delivered, with the error."""
        deadline = time.monotonic() + _FLUSH_LIMIT_S
        while self._in_flight > 0 and time.monotonic() < deadline:
            self._producer.flush(_FLUSH_SLICE_S)
        if self._in_flight > 0:
            raise KafkaUnavailable(
                f"{self._in_flight} redriven record(s) still unacknowledged after "
                f"{_FLUSH_LIMIT_S:.0f} s; a repeated redrive is safe"
            )
        return dict(self._failed)


def _say(message: str) -> None:
    print(message, file=sys.stderr)
