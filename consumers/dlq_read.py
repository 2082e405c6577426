"""Dead-lettered records as an operator sees them: the record, its headers, and which are selected.

Pure: no Kafka here. ``consumers.dlq`` writes a DLQ record as the original key and value bytes
with ``cardwright.*`` headers (reason, detail, source topic/partition/offset, consumer); a copy
the broker refused whole is truncated and carries ``cardwright.original.size`` and
``cardwright.original.sha256``. :class:`DeadLetter` reads those headers, :class:`Selector`
decides which records an operator asked for, and the ``*_text`` helpers render bytes safely
(a key or value may be anything, including invalid UTF-8 and terminal escape codes).

Positions are ``PARTITION:OFFSET`` of the DLQ topic; "source" means the events topic record that
was dead-lettered.

One source record may have several DLQ copies: a replay (``cardwright replay``) re-reads records
that were dead-lettered already, and a member dead-letters them again. :class:`SourceCopies`
counts the copies of each ``(source topic, partition, offset)``, so ``dlq list`` shows a source
record once (its first copy, with the number of copies) and ``dlq redrive`` publishes it once.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from cardwright.schema.errors import CardwrightError

HEADER_REASON = "cardwright.reason"
HEADER_DETAIL = "cardwright.detail"
HEADER_SOURCE_TOPIC = "cardwright.source.topic"
HEADER_SOURCE_PARTITION = "cardwright.source.partition"
HEADER_SOURCE_OFFSET = "cardwright.source.offset"
HEADER_CONSUMER = "cardwright.consumer"
HEADER_ORIGINAL_SIZE = "cardwright.original.size"
HEADER_ORIGINAL_SHA256 = "cardwright.original.sha256"

# A list line keeps the detail short enough to stay one terminal line with the other columns;
# `dlq show` prints it whole.
DETAIL_WIDTH = 80
# Bytes of a value `dlq show` previews when it is not JSON: enough to recognise it.
PREVIEW_BYTES = 2048

_POSITION = re.compile(r"(\d+):(\d+)")


class InvalidSelection(CardwrightError):
    """An option's value is malformed; ``option`` names it for the usage error."""

    def __init__(self, option: str, detail: str) -> None:
        super().__init__(f"{option}: {detail}")
        self.option = option
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record sits in the DLQ topic."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"


def parse_position(text: str) -> Position:
    """``PARTITION:OFFSET``, digits only (``0:42``)."""
    match = _POSITION.fullmatch(text)
    if match is None:
        raise InvalidSelection("DLQ_PARTITION:OFFSET", f"{text!r} is not PARTITION:OFFSET (0:42)")
    return Position(int(match[1]), int(match[2]))


def parse_time_ms(option: str, text: str) -> int:
    """An ISO 8601 time with a timezone, as epoch milliseconds (Kafka's timestamp unit)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidSelection(
            option, f"{text!r} is not an ISO 8601 time (e.g. 2026-11-01T12:00:00Z)"
        ) from None
    if moment.utcoffset() is None:
        # Local time would make the same command select differently on different machines.
        raise InvalidSelection(option, f"{text!r} has no timezone; add one, e.g. 'Z' or '+02:00'")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    # Round up: a record stamped in the same millisecond but before a sub-millisecond
    # time is not "at or after" it.
    return -(-micros // 1000)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One DLQ record, as read from the DLQ topic."""

    position: Position
    timestamp_ms: int | None  # None when the broker reports no timestamp
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` as text (invalid UTF-8 replaced), or None."""
        found = None
        for key, value in self.headers:
            if key == name and value is not None:
                found = value.decode("utf-8", "replace")
        return found

    @property
    def reason(self) -> str:
        return self.header(HEADER_REASON) or "-"

    @property
    def detail(self) -> str:
        return self.header(HEADER_DETAIL) or ""

    @property
    def source_topic(self) -> str | None:
        return self.header(HEADER_SOURCE_TOPIC)

    @property
    def source_partition(self) -> int | None:
        return _int_or_none(self.header(HEADER_SOURCE_PARTITION))

    @property
    def source_offset(self) -> int | None:
        return _int_or_none(self.header(HEADER_SOURCE_OFFSET))

    @property
    def size(self) -> int:
        return 0 if self.value is None else len(self.value)

    @property
    def original_size(self) -> int | None:
        return _int_or_none(self.header(HEADER_ORIGINAL_SIZE))

    @property
    def original_sha256(self) -> str | None:
        return self.header(HEADER_ORIGINAL_SHA256)

    @property
    def truncated(self) -> bool:
        """True when the headers describe an original that this value is not.

        The original-size and sha256 headers mark a truncated copy; a value that still matches
        both (nothing was cut) is the whole record.
        """
        size, digest = self.original_size, self.original_sha256
        if size is None and digest is None:
            return False
        value = self.value or b""
        if size is not None and size != len(value):
            return True
        return digest is not None and digest.lower() != hashlib.sha256(value).hexdigest()


def source_of(record: DeadLetter) -> tuple[str, int, int] | None:
    """The events topic record ``record`` copies, ``(topic, partition, offset)``; None when its
    headers do not say (then it stands for itself)."""
    topic, partition, offset = record.source_topic, record.source_partition, record.source_offset
    if topic is None or partition is None or offset is None:
        return None
    return (topic, partition, offset)


class SourceCopies:
    """How many DLQ copies of each source record were seen, in the order first seen."""

    def __init__(self) -> None:
        self._copies: dict[Hashable, int] = {}

    def add(self, record: DeadLetter) -> bool:
        """Count ``record``; True when it is the first copy of its source record."""
        key: Hashable = source_of(record) or ("dlq", record.position)
        seen = self._copies.get(key, 0)
        self._copies[key] = seen + 1
        return seen == 0

    def of(self, record: DeadLetter) -> int:
        """Copies of ``record``'s source record seen so far."""
        return self._copies.get(source_of(record) or ("dlq", record.position), 0)


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Selector:
    """Which DLQ records an operator asked for; every given criterion must hold.

    Times are DLQ record timestamps (when the record was dead-lettered): ``since_ms`` inclusive,
    ``until_ms`` exclusive. Offsets are source offsets (in the events topic), both inclusive, so
    ``--source-partition 3 --from-offset 100 --to-offset 200`` names an incident's records.
    """

    reasons: frozenset[str] = frozenset()
    since_ms: int | None = None
    until_ms: int | None = None
    source_partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None

    @property
    def empty(self) -> bool:
        """True when no criterion is given, so every record matches."""
        return self == Selector()

    def matches(self, record: DeadLetter) -> bool:
        if self.reasons and record.reason not in self.reasons:
            return False
        stamp = record.timestamp_ms
        if self.since_ms is not None and (stamp is None or stamp < self.since_ms):
            return False
        if self.until_ms is not None and (stamp is None or stamp >= self.until_ms):
            return False
        if self.source_partition is not None and record.source_partition != self.source_partition:
            return False
        if self.from_offset is None and self.to_offset is None:
            return True
        offset = record.source_offset
        if offset is None:
            return False
        if self.from_offset is not None and offset < self.from_offset:
            return False
        return self.to_offset is None or offset <= self.to_offset


def make_selector(
    *,
    reasons: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    source_partition: int | None = None,
    from_offset: int | None = None,
    to_offset: int | None = None,
) -> Selector:
    """A :class:`Selector` from command-line values, refusing contradictions."""
    since_ms = None if since is None else parse_time_ms("--since", since)
    until_ms = None if until is None else parse_time_ms("--until", until)
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise InvalidSelection("--until", "must be later than --since")
    for option, number in (
        ("--source-partition", source_partition),
        ("--from-offset", from_offset),
        ("--to-offset", to_offset),
    ):
        if number is not None and number < 0:
            raise InvalidSelection(option, f"{number} is negative")
    if from_offset is not None and to_offset is not None and to_offset < from_offset:
        raise InvalidSelection("--to-offset", f"{to_offset} is before --from-offset {from_offset}")
    return Selector(
        reasons=frozenset(reasons),
        since_ms=since_ms,
        until_ms=until_ms,
        source_partition=source_partition,
        from_offset=from_offset,
        to_offset=to_offset,
    )


# --- rendering -------------------------------------------------------------------------------


def bytes_text(data: bytes | None) -> str:
    """Bytes as readable text: UTF-8 where printable, escapes elsewhere; ``-`` for None."""
    if data is None:
        return "-"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _escaped(data)
    if text.isprintable():
        return text
    return _escaped(data)


def _escaped(data: bytes) -> str:
    # repr() of bytes escapes every non-printable byte; drop the b'' wrapper.
    return repr(data)[2:-1]


def shorten(text: str, width: int = DETAIL_WIDTH) -> str:
    """One line of at most ``width`` characters, ending in ``…`` when cut."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def time_text(timestamp_ms: int | None) -> str:
    if timestamp_ms is None:
        return "-"
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def value_json(value: bytes | None) -> tuple[bool, Any]:
    """``(True, parsed)`` when the value is JSON, else ``(False, None)``."""
    if value is None:
        return False, None
    try:
        return True, orjson.loads(value)
    except orjson.JSONDecodeError:
        return False, None


def summary(record: DeadLetter, copies: int = 1) -> dict[str, Any]:
    """What `dlq list --json` says about a record (and the copies of its source record)."""
    return {
        "copies": copies,
        "dlq_partition": record.position.partition,
        "dlq_offset": record.position.offset,
        "timestamp": time_text(record.timestamp_ms),
        "reason": record.reason,
        "source_topic": record.source_topic,
        "source_partition": record.source_partition,
        "source_offset": record.source_offset,
        "key": None if record.key is None else bytes_text(record.key),
        "size": record.size,
        "truncated": record.truncated,
        "detail": record.detail,
    }


def summary_line(record: DeadLetter, copies: int = 1) -> str:
    """One `dlq list` line: position, time, reason, source, key, size, copies of the source
    record when more than one, detail (shortened)."""
    source = f"{record.source_topic or '-'}[{_or_dash(record.source_partition)}]"
    source += f"@{_or_dash(record.source_offset)}"
    size = f"{record.size}B" + (" truncated" if record.truncated else "")
    return "  ".join(
        (
            str(record.position),
            time_text(record.timestamp_ms),
            record.reason,
            source,
            f"key={bytes_text(record.key)}",
            size,
            *([f"copies={copies}"] if copies > 1 else []),
            shorten(record.detail),
        )
    )


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def details(record: DeadLetter) -> dict[str, Any]:
    """Everything `dlq show --json` says about a record."""
    is_json, parsed = value_json(record.value)
    document = summary(record)
    del document["copies"]  # `show` reads one record; `list` counts the copies
    document["headers"] = [
        [name, None if value is None else bytes_text(value)] for name, value in record.headers
    ]
    document["original_size"] = record.original_size
    document["original_sha256"] = record.original_sha256
    document["value_is_json"] = is_json
    document["value_json"] = parsed
    document["value"] = None if record.value is None else bytes_text(record.value)
    # The exact bytes, for a program: the escaped text above cannot tell "\\xff" from 0xff.
    document["value_base64"] = (
        None if record.value is None else base64.b64encode(record.value).decode()
    )
    return document


def value_preview(value: bytes | None) -> str:
    """The value for a reader: pretty JSON if it parses, else its first bytes escaped."""
    if value is None:
        return "(no value)"
    is_json, parsed = value_json(value)
    if is_json:
        return orjson.dumps(parsed, option=orjson.OPT_INDENT_2).decode()
    shown = bytes_text(value[:PREVIEW_BYTES])
    more = len(value) - PREVIEW_BYTES
    return shown + (f"… ({more} more bytes)" if more > 0 else "")
