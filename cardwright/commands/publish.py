"""``cardwright publish``: message events from a JSONL file (or stdin) onto the events topic.

Each line is validated against schema v1; invalid lines are reported on stderr as
``line N: <reason>: <detail>`` and skipped, the valid ones are published keyed by topic_id.
``--raw`` skips validation so that bad records reach the consumer and its DLQ. The loop
(:func:`publish_lines`) is apart from the Typer wiring so its decisions are tested without Kafka.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, BinaryIO, Protocol

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from cardwright.commands.options import command_settings
from cardwright.producers.jsonl import iter_lines, raw_key, read_events
from cardwright.producers.kafka_config import client_properties, plain
from cardwright.producers.publisher import DeliveryFailed, Publisher
from cardwright.producers.reach import require_reachable
from cardwright.producers.topics import ensure_topics
from cardwright.schema.errors import BadInput
from cardwright.schema.events import MessageEvent
from cardwright.settings import DEFAULT_BOOTSTRAP

# Exit codes: 0 everything published; 1 invalid lines or undelivered records; 2 usage errors
# (Typer's own, and ConfigurationError in cardwright.cli).
EXIT_OK = 0
EXIT_INCOMPLETE = 1


class Sink(Protocol):
    """The part of the Publisher the loop needs."""

    def publish(self, event: MessageEvent) -> None: ...

    def publish_raw(self, key: bytes | None, value: bytes) -> None: ...


@dataclass(slots=True)
class LoopResult:
    queued: int = 0
    invalid: int = 0
    rejected: int = 0  # valid lines the client refused to queue (larger than message.max.bytes)
    stopped_at_line: int | None = None  # --strict: the first invalid line


def publish_lines(
    lines: Iterable[bytes],
    sink: Sink,
    *,
    strict: bool,
    raw: bool,
    report: Callable[[str], None],
) -> LoopResult:
    """Validate (unless ``raw``) and queue each line; ``report`` gets one message per bad line."""
    result = LoopResult()
    items: Iterator[tuple[int, bytes | MessageEvent | BadInput]]
    items = iter_lines(lines) if raw else read_events(lines)
    for number, item in items:
        if isinstance(item, BadInput):
            result.invalid += 1
            report(f"line {number}: {item.reason}: {item.detail}")
            if strict:
                result.stopped_at_line = number
                report(f"stopped at line {number} (--strict): nothing after it was published")
                break
            continue
        try:
            if isinstance(item, MessageEvent):
                sink.publish(item)
            else:
                sink.publish_raw(raw_key(item), item)
        except BadInput as bad:
            result.rejected += 1
            report(f"line {number}: {bad.reason}: {bad.detail}")
            continue
        result.queued += 1
    return result


@dataclass(frozen=True, slots=True)
class Summary:
    topic: str
    published: int
    invalid: int
    failed: int
    seconds: float
    stopped_at_line: int | None

    @property
    def events_per_second(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> bytes:
        data = asdict(self) | {
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
        }
        return orjson.dumps(data)

    def text(self) -> str:
        return (
            f"published {self.published}, invalid {self.invalid}, failed {self.failed} "
            f"to {self.topic} in {self.seconds:.2f} s ({self.events_per_second:,.0f} events/s)"
        )


def publish(
    file: Annotated[
        str, typer.Argument(metavar="FILE|-", help="JSONL file of message events; - reads stdin.")
    ],
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first invalid line (exit 1).")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Send lines unvalidated (key: the line's topic_id, if any) to exercise the DLQ.",
        ),
    ] = False,
    topic: Annotated[
        str | None,
        typer.Option(
            envvar="CARDWRIGHT_EVENTS_TOPIC",
            show_default="chat.message-events",
            help="Events topic.",
        ),
    ] = None,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            envvar="CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS",
            show_default=DEFAULT_BOOTSTRAP,
            help="Kafka bootstrap servers.",
        ),
    ] = None,
    create_topic: Annotated[
        bool,
        typer.Option(
            help="Create the topic and its DLQ if missing ($CARDWRIGHT_PARTITIONS partitions)."
        ),
    ] = True,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Publish message events from JSONL, one event per line, keyed by topic_id.

    Invalid lines are reported on stderr as 'line N: <reason>: <detail>'.

    The valid lines are still published, unless --strict stops at the first invalid one.

    Exit status: 0 all published, 1 invalid lines or undelivered records, 2 usage errors.
    """
    settings = command_settings(kafka_bootstrap_servers=bootstrap_servers, events_topic=topic)
    properties = client_properties(settings.kafka)
    with _open_input(file) as stream:
        # A dead cluster: one clear line now, rather than records failing minutes later.
        require_reachable(properties)
        if create_topic:
            ensure_topics(
                plain(properties["bootstrap.servers"]),
                settings.events_topic,
                settings.partitions,
                settings.dlq_topic,
                properties=properties,
            )
        publisher = Publisher(properties, settings.events_topic)
        started = time.monotonic()
        with _progress(_size_of(stream)) as (report, advance):
            lines = _counted(stream, advance)
            loop = publish_lines(lines, publisher, strict=strict, raw=raw, report=report)
        failed = loop.rejected
        try:
            delivered = publisher.flush().delivered
        except DeliveryFailed as exc:
            delivered = exc.stats.delivered
            failed += exc.stats.failed + exc.stats.undelivered
            _say(f"delivery failed: {exc}")
    summary = Summary(
        topic=settings.events_topic,
        published=delivered,
        invalid=loop.invalid,
        failed=failed,
        seconds=time.monotonic() - started,
        stopped_at_line=loop.stopped_at_line,
    )
    _say(summary.text())
    if json_output:
        sys.stdout.write(summary.to_json().decode() + "\n")
    if summary.invalid or summary.failed:
        raise typer.Exit(EXIT_INCOMPLETE)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def _progress(
    total_bytes: int | None,
) -> Iterator[tuple[Callable[[str], None], Callable[[int], None]]]:
    """A progress bar on stderr when it is a terminal: yields (report a line, advance by bytes)."""
    if not sys.stderr.isatty():
        yield _say, lambda _: None
        return
    console = Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("publishing"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("publishing", total=total_bytes)

        def report(message: str) -> None:
            # Printed through the live console so the bar is redrawn below the message.
            progress.console.print(message, markup=False, highlight=False, soft_wrap=True)

        def advance(size: int) -> None:
            progress.advance(task, size)

        yield report, advance


def _counted(lines: Iterable[bytes], advance: Callable[[int], None]) -> Iterator[bytes]:
    for line in lines:
        advance(len(line))
        yield line


@contextmanager
def _open_input(file: str) -> Iterator[BinaryIO]:
    if file == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = Path(file).open("rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise typer.BadParameter(f"cannot open {file}: {exc.strerror}", param_hint="FILE") from None
    with stream:
        yield stream


def _size_of(stream: BinaryIO) -> int | None:
    try:
        return Path(stream.name).stat().st_size if stream.seekable() else None
    except (OSError, AttributeError, TypeError):
        return None
