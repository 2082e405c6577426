"""`cardwright dlq list | show | redrive` on a real broker and database, through the console script.

Dead letters are made by a real member (a wrong key, invalid JSON) or written with the real
``DeadLetters`` writer; what the command publishes is read back with a plain consumer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from cardwright.cli import main
from cardwright.consumers.dlq import DeadLetters
from cardwright.consumers.dlq_topic import READER_GROUP
from cardwright.producers.partitioner import partition_for
from cardwright.schema import events as ev
from cardwright.schema.errors import BadInput
from tests.conftest import TEST_TOPIC_PARTITIONS
from tests.integration.conftest import Pipeline
from tests.integration.operations_support import replay_to_earliest
from tests.integration.support import (
    committed_offsets,
    consume_until_idle,
    event,
    publish_raw,
    read_state,
)

# A local broker answers in milliseconds; the margin covers a machine busy with other tests.
WAIT_S = 30.0


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Done]:
    """Runs `cardwright dlq ARGS --topic <test topic>` in this process, through the console
    script's own ``main`` (exit codes included): a subprocess per call would cost seconds of
    start-up each on a busy machine. One test below goes through a real subprocess."""
    for name, value in pipeline.env().items():
        if name.startswith("CARDWRIGHT_"):
            monkeypatch.setenv(name, value)

    def invoke(*args: str) -> Done:
        monkeypatch.setattr(sys, "argv", ["cardwright", "dlq", *args, "--topic", pipeline.topic])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return invoke


def as_json(done: Done, status: int = 0) -> dict[str, Any]:
    assert done.returncode == status, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-test-watermarks"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=WAIT_S)[1]
            for p in range(partitions)
        ]
    finally:
        consumer.close()


def read_from(bootstrap: str, topic: str, starts: list[int]) -> list[Any]:
    """Every record of ``topic`` at or after ``starts[partition]``, up to the current end."""
    ends = end_offsets(bootstrap, topic, len(starts))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-test-reader"})
    consumer.assign([TopicPartition(topic, p, o) for p, o in enumerate(starts)])
    wanted = sum(e - s for s, e in zip(starts, ends, strict=True))
    records: list[Any] = []
    deadline = time.monotonic() + WAIT_S
    try:
        while len(records) < wanted and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append(msg)
    finally:
        consumer.close()
    assert len(records) == wanted
    return records


def test_a_record_redriven_twice_is_stored_once_and_extracted_once(
    pipeline: Pipeline, run: Callable[..., Done]
) -> None:
    """A valid event with a wrong key is dead-lettered; redriving it (re-keyed by topic_id)
    twice applies it once: one message row, one extract run, its cards."""
    good = event("t-redrive", "m1", "I'll send the draft to Alice on Friday.")
    original = good.to_json_bytes()
    publish_raw(
        pipeline.bootstrap,
        pipeline.topic,
        [(b"wrong-key", original), (b"t-redrive", b'{"schema_version": 1, ')],
    )
    consume_until_idle(pipeline.env())
    assert read_state(pipeline.engine).messages == frozenset()

    listed = as_json(run("list", "--json"))
    assert listed["count"] == 2
    by_reason = {r["reason"]: r for r in listed["records"]}
    assert set(by_reason) == {ev.REASON_KEY_MISMATCH, ev.REASON_INVALID_JSON}
    moved = by_reason[ev.REASON_KEY_MISMATCH]
    assert (moved["key"], moved["size"], moved["source_topic"]) == (
        "wrong-key",
        len(original),
        pipeline.topic,
    )
    position = f"{moved['dlq_partition']}:{moved['dlq_offset']}"
    assert as_json(run("list", "--reason", ev.REASON_KEY_MISMATCH, "--json"))["count"] == 1
    # Listing reads without a group: nothing is ever committed for the reader.
    assert committed_offsets(pipeline.bootstrap, READER_GROUP, pipeline.dlq, 1) == {}

    before = end_offsets(pipeline.bootstrap, pipeline.topic, TEST_TOPIC_PARTITIONS)
    dry = as_json(run("redrive", "--reason", ev.REASON_KEY_MISMATCH, "--dry-run", "--json"))
    assert (dry["dry_run"], dry["selected"], dry["redriven"]) == (True, 1, 1)
    assert end_offsets(pipeline.bootstrap, pipeline.topic, TEST_TOPIC_PARTITIONS) == before

    first = as_json(run("redrive", "--reason", ev.REASON_KEY_MISMATCH, "--json"))
    assert (first["dry_run"], first["redriven"], first["skipped"]) == (False, 1, [])
    # --all also selects the invalid JSON record, which has no topic_id: reported, exit 1.
    second = as_json(run("redrive", "--all", "--json"), status=1)
    assert second["redriven"] == 1
    assert [s["reason"] for s in second["skipped"]] == ["no_topic_id"]

    redriven = read_from(pipeline.bootstrap, pipeline.topic, before)
    assert len(redriven) == 2
    home = partition_for(b"t-redrive", TEST_TOPIC_PARTITIONS)
    for record in redriven:
        assert (record.key(), record.value(), record.partition()) == (b"t-redrive", original, home)
        assert dict(record.headers())["cardwright.redriven-from"] == position.encode()

    consume_until_idle(pipeline.env())
    state = read_state(pipeline.engine)
    assert state.messages == frozenset(
        {("u1", "m1", "t-redrive", 0, "I'll send the draft to Alice on Friday.", False)}
    )
    assert len(state.runs) == 1
    assert state.cards, "the redriven message's cards are present"
    # Nothing the redrive published went back to the DLQ.
    assert as_json(run("list", "--json"))["count"] == 2


@dataclass
class Source:
    """A stand-in for the consumed record ``DeadLetters.send`` copies (a confluent ``Message``
    cannot be built in Python)."""

    topic_name: str
    partition_no: int
    offset_no: int
    key_bytes: bytes | None
    value_bytes: bytes | None

    def topic(self) -> str:
        return self.topic_name

    def partition(self) -> int:
        return self.partition_no

    def offset(self) -> int:
        return self.offset_no

    def key(self) -> bytes | None:
        return self.key_bytes

    def value(self) -> bytes | None:
        return self.value_bytes


@pytest.fixture
def dead_letters(pipeline: Pipeline) -> Pipeline:
    """Six DLQ records written by the real writer: source partitions 0 and 1, offsets 10..12,
    reasons schema_violation (partition 0) and key_mismatch (partition 1)."""
    writer = DeadLetters({"bootstrap.servers": pipeline.bootstrap}, pipeline.dlq, "test-member")
    for partition, reason in ((0, ev.REASON_SCHEMA), (1, ev.REASON_KEY_MISMATCH)):
        for offset in (10, 11, 12):
            value = orjson.dumps({"topic_id": f"t-{partition}", "n": offset, "bad": "\x1b[31m"})
            source = Source(pipeline.topic, partition, offset, b"k\x1b[31m", value)
            writer.send(source, BadInput(reason, f"detail {partition}/{offset} " + "x" * 200))
    writer.flush()
    return pipeline


def test_list_selects_by_reason_source_partition_offsets_time_and_limit(
    dead_letters: Pipeline, run: Callable[..., Done]
) -> None:
    p = dead_letters

    def positions(*args: str) -> list[tuple[int, int]]:
        found = as_json(run("list", *args, "--json"))["records"]
        return [(r["source_partition"], r["source_offset"]) for r in found]

    everything = [(0, 10), (0, 11), (0, 12), (1, 10), (1, 11), (1, 12)]
    assert positions() == everything
    assert positions("--reason", ev.REASON_KEY_MISMATCH) == everything[3:]
    assert positions("--reason", ev.REASON_KEY_MISMATCH, "--reason", ev.REASON_SCHEMA) == everything
    assert positions("--source-partition", "1", "--from-offset", "11") == [(1, 11), (1, 12)]
    assert positions("--from-offset", "11", "--to-offset", "11") == [(0, 11), (1, 11)]
    assert positions("--limit", "2") == [(0, 10), (0, 11)]
    assert positions("--since", "2999-01-01T00:00:00Z") == []
    assert positions("--until", "2000-01-01T00:00:00Z") == []
    assert positions("--since", "2000-01-01T00:00:00+02:00") == everything

    text = run("list", "--source-partition", "0")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 3
    first = lines[0]
    assert first.startswith("0:0  ")
    assert f"{ev.REASON_SCHEMA}  {p.topic}[0]@10  key=k\\x1b[31m  " in first
    assert first.endswith("…")  # the 200-character detail is shortened
    assert "\x1b" not in text.stdout


@pytest.mark.usefixtures("dead_letters")
def test_show_prints_headers_key_and_value_and_refuses_unknown_positions(
    run: Callable[..., Done],
) -> None:
    shown = as_json(run("show", "0:4", "--json"))
    headers = dict(shown["headers"])
    assert headers["cardwright.reason"] == ev.REASON_KEY_MISMATCH
    assert headers["cardwright.source.offset"] == "11"
    assert headers["cardwright.consumer"] == "test-member"
    assert shown["key"] == "k\\x1b[31m"
    assert shown["value_json"] == {"topic_id": "t-1", "n": 11, "bad": "\x1b[31m"}
    value = base64.b64decode(shown["value_base64"])
    assert orjson.loads(value) == shown["value_json"]

    text = run("show", "0:4")
    assert text.returncode == 0, text.stderr
    assert '"topic_id": "t-1"' in text.stdout  # pretty JSON
    assert "cardwright.source.partition: 1" in text.stdout

    missing = run("show", "0:99")
    assert missing.returncode == 1
    assert "no record at" in missing.stderr and "offsets 0..5" in missing.stderr
    assert run("show", "3:0").returncode == 1
    assert run("show", "zero").returncode == 2


def test_a_truncated_copy_is_shown_as_such_and_never_redriven(
    pipeline: Pipeline, run: Callable[..., Done]
) -> None:
    original = orjson.dumps({"topic_id": "t-big", "text": "y" * 5000})
    cut = original[:100]
    headers: list[tuple[str, str | bytes | None]] = [
        ("cardwright.reason", b"record_too_large"),
        ("cardwright.source.topic", pipeline.topic.encode()),
        ("cardwright.source.partition", b"2"),
        ("cardwright.source.offset", b"7"),
        ("cardwright.original.size", str(len(original)).encode()),
        ("cardwright.original.sha256", hashlib.sha256(original).hexdigest().encode()),
    ]
    producer = Producer({"bootstrap.servers": pipeline.bootstrap})
    producer.produce(pipeline.dlq, value=cut, key=b"t-big", headers=headers)
    assert producer.flush(WAIT_S) == 0

    [listed] = as_json(run("list", "--json"))["records"]
    assert listed["truncated"] is True
    shown = as_json(run("show", "0:0", "--json"))
    assert shown["original_size"] == len(original)
    assert "TRUNCATED" in run("show", "0:0").stdout

    before = end_offsets(pipeline.bootstrap, pipeline.topic, TEST_TOPIC_PARTITIONS)
    done = run("redrive", "--source-partition", "2")
    assert done.returncode == 1
    assert "0:0: not redriven: truncated_copy" in done.stderr
    assert "republish the original" in done.stderr
    assert end_offsets(pipeline.bootstrap, pipeline.topic, TEST_TOPIC_PARTITIONS) == before


def test_usage_errors_exit_2_and_an_unknown_topic_exits_1(
    pipeline: Pipeline, run: Callable[..., Done]
) -> None:
    assert run("redrive").returncode == 2
    assert run("redrive", "--all", "--reason", "x").returncode == 2
    assert run("list", "--since", "2024-01-01").returncode == 2
    assert run("list", "--from-offset", "5", "--to-offset", "4").returncode == 2
    done = subprocess.run(
        [sys.executable, "-m", "cardwright", "dlq", "list", "--topic", f"{pipeline.topic}-nope"],
        env=pipeline.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"cardwright: topic '{pipeline.topic}-nope.dlq' does not exist"


def test_a_replayed_poison_record_is_listed_once_and_redriven_once(
    pipeline: Pipeline, run: Callable[..., Done]
) -> None:
    """A replay re-reads records that were dead-lettered and a member dead-letters them again:
    the DLQ holds two copies of each. `dlq list` shows each source record once (its first copy,
    copies=2) and `dlq redrive` publishes it once, so it is applied once."""
    good = event("t-replayed", "m1", "We decided to ship on Friday.")
    publish_raw(
        pipeline.bootstrap,
        pipeline.topic,
        [(b"wrong-key", good.to_json_bytes()), (b"t-replayed", b"{not json")],
    )
    consume_until_idle(pipeline.env())
    replay_to_earliest(pipeline.bootstrap, pipeline.group, pipeline.topic)
    consume_until_idle(pipeline.env())
    assert end_offsets(pipeline.bootstrap, pipeline.dlq, 1) == [4], "two copies of each record"

    listed = as_json(run("list", "--json"))
    assert listed["count"] == 2
    assert sorted((r["reason"], r["copies"]) for r in listed["records"]) == [
        (ev.REASON_INVALID_JSON, 2),
        (ev.REASON_KEY_MISMATCH, 2),
    ]
    assert [r["dlq_offset"] for r in listed["records"]] == [0, 1], "the first copies"
    text = run("list", "--reason", ev.REASON_KEY_MISMATCH)
    assert len(text.stdout.splitlines()) == 1 and "  copies=2  " in text.stdout

    before = end_offsets(pipeline.bootstrap, pipeline.topic, TEST_TOPIC_PARTITIONS)
    redriven = as_json(run("redrive", "--reason", ev.REASON_KEY_MISMATCH, "--json"))
    assert (redriven["selected"], redriven["redriven"], redriven["duplicate_copies"]) == (1, 1, 1)
    assert len(read_from(pipeline.bootstrap, pipeline.topic, before)) == 1

    consume_until_idle(pipeline.env())
    state = read_state(pipeline.engine)
    assert [m[:3] for m in state.messages] == [("u1", "m1", "t-replayed")]
    assert len(state.runs) == 1
