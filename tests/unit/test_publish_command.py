"""The publish loop's decisions: what is sent, what is reported, where --strict stops."""

from __future__ import annotations

import orjson

from cardwright.commands.publish import LoopResult, Summary, publish_lines
from cardwright.schema.errors import BadInput
from cardwright.schema.events import MessageEvent
from tests.unit.test_jsonl import line


class RecordingSink:
    """Keeps what would have been queued; refuses values marked as too large."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []

    def publish(self, event: MessageEvent) -> None:
        self.publish_raw(event.topic_id.encode(), event.to_json_bytes())

    def publish_raw(self, key: bytes | None, value: bytes) -> None:
        if b"TOO-LARGE" in value:
            raise BadInput("record_too_large", "larger than message.max.bytes")
        self.records.append((key, value))


def run(
    lines: list[bytes], *, strict: bool = False, raw: bool = False
) -> tuple[LoopResult, list[tuple[bytes | None, bytes]], list[str]]:
    sink = RecordingSink()
    messages: list[str] = []
    result = publish_lines(lines, sink, strict=strict, raw=raw, report=messages.append)
    return result, sink.records, messages


def test_valid_lines_are_published_and_invalid_ones_reported_by_number() -> None:
    lines = [line(message_id="a"), b"\n", b"{oops\n", line(message_id="b", role="robot"), line()]
    result, records, messages = run(lines)
    assert (result.queued, result.invalid, result.stopped_at_line) == (2, 2, None)
    assert [key for key, _ in records] == [b"t1", b"t1"]
    assert messages[0].startswith("line 3: invalid_json: ")
    assert messages[1].startswith("line 4: schema_violation: role")


def test_strict_stops_at_the_first_invalid_line() -> None:
    lines = [line(message_id="a"), b"{oops\n", line(message_id="b")]
    result, records, messages = run(lines, strict=True)
    assert (result.queued, result.invalid, result.stopped_at_line) == (1, 1, 2)
    assert len(records) == 1
    assert "stopped at line 2" in messages[-1]


def test_raw_sends_every_line_as_is_keyed_by_topic_id_when_possible() -> None:
    lines = [line(topic_id="t7"), b"{oops\n", b'{"topic_id": "x", "schema_version": 9}\n']
    result, records, messages = run(lines, raw=True)
    assert (result.queued, result.invalid, messages) == (3, 0, [])
    assert [key for key, _ in records] == [b"t7", None, b"x"]
    assert records[1][1] == b"{oops"


def test_events_are_sent_as_canonical_json_of_the_model() -> None:
    _, records, _ = run([line()])
    [(key, value)] = records
    assert key is not None
    assert MessageEvent.model_validate(orjson.loads(value)).topic_id == key.decode()


def test_a_record_the_client_refuses_is_counted_and_reported() -> None:
    result, _, messages = run([line(text="TOO-LARGE")], raw=True)
    assert (result.queued, result.rejected) == (0, 1)
    assert messages == ["line 1: record_too_large: larger than message.max.bytes"]


def test_summary_reports_rate_and_json() -> None:
    summary = Summary("t", published=50, invalid=1, failed=0, seconds=0.5, stopped_at_line=None)
    assert summary.events_per_second == 100
    assert "published 50, invalid 1, failed 0" in summary.text()
    assert orjson.loads(summary.to_json()) == {
        "topic": "t",
        "published": 50,
        "invalid": 1,
        "failed": 0,
        "seconds": 0.5,
        "stopped_at_line": None,
        "events_per_second": 100.0,
    }
