"""Reading message events from JSON Lines: one event per line, validated line by line.

Pure: it takes an iterable of lines (a file opened in binary, ``sys.stdin.buffer``, or a list in a
test) and yields ``(line_number, MessageEvent | BadInput)``. Lines are decoded one at a time, so
one line of invalid UTF-8 is one bad line and not the end of the file. Line numbers are physical
(1-based, blank lines counted) so that they point into the file; blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from cardwright.schema.errors import BadInput
from cardwright.schema.events import MessageEvent, parse_event

Line = bytes | str


def iter_lines(lines: Iterable[Line]) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines as bytes without their line ending, with their 1-based line numbers."""
    for number, line in enumerate(lines, start=1):
        # A text stream already decoded its lines; surrogateescape keeps undecodable bytes as
        # they were read, so they still fail UTF-8 validation below.
        raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            yield number, raw


def read_events(lines: Iterable[Line]) -> Iterator[tuple[int, MessageEvent | BadInput]]:
    """Each non-blank line parsed as a schema-v1 event, or the BadInput that explains why not."""
    for number, raw in iter_lines(lines):
        try:
            yield number, parse_event(raw, raw_key(raw))  # the key it will be published with
        except BadInput as bad:
            yield number, bad


def raw_key(line: bytes) -> bytes | None:
    """The key a raw line would be published with: its ``topic_id`` if it has a string one."""
    try:
        data: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    topic_id = data.get("topic_id") if isinstance(data, dict) else None
    return topic_id.encode("utf-8", "surrogatepass") if isinstance(topic_id, str) else None
