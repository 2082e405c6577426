"""Bad input never stops a partition and never disappears: every class ends in the DLQ."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from cardwright.schema import events as ev
from tests.integration.conftest import Pipeline
from tests.integration.support import consume_until_idle, event, publish, publish_raw
from tests.integration.test_pipeline import assert_matches_model

pytestmark = pytest.mark.slow


def read_dlq(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[Any]:
    # Messages, as Any: the stubs type headers, keys and values as unions (str, list or dict,
    # None) that a consumer without deserializers never returns; the tests index them as bytes.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-reader"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append(msg)
        time.sleep(1)  # and nothing more arrives
        while (msg := consumer.poll(0.5)) is not None:
            records.append(msg)
    finally:
        consumer.close()
    return records


def test_every_bad_input_class_reaches_the_dlq_and_later_events_are_processed(
    pipeline: Pipeline,
) -> None:
    settled = [event("t-bad", "m1", "I'll send the draft to Alice on Friday.")]
    publish(pipeline.bootstrap, pipeline.topic, settled)
    consume_until_idle(pipeline.env())

    def valid(i: int) -> ev.MessageEvent:
        return event("t-bad", f"m{i}", f"Remember to ask Tom about item {i}.", minute=i)

    def as_dict(e: ev.MessageEvent) -> Any:  # the event as JSON
        return orjson.loads(e.to_json_bytes())

    key = b"t-bad"
    base = as_dict(valid(99))
    bad: list[tuple[str, bytes | None, bytes]] = [
        (ev.REASON_INVALID_UTF8, key, b"\xff\xfe\xfd"),
        (ev.REASON_INVALID_JSON, key, b'{"schema_version": 1, '),
        (ev.REASON_SCHEMA, key, orjson.dumps({**base, "role": "bot"})),
        (ev.REASON_OVERSIZE, key, orjson.dumps({**base, "text": "x" * (33 * 1024)})),
        (ev.REASON_UNKNOWN_VERSION, key, orjson.dumps({**base, "schema_version": 2})),
        (ev.REASON_TOPIC_CONFLICT, key, orjson.dumps({**base, "conversation_id": "elsewhere"})),
        (
            ev.REASON_MESSAGE_MOVED,
            b"t-other",
            orjson.dumps({**base, "message_id": "m1", "topic_id": "t-other"}),
        ),
        # The input rules (docs/design.md, "Message event"): each of these was stored before.
        (ev.REASON_KEY_MISMATCH, None, orjson.dumps(base)),  # a record without a key
        (ev.REASON_SCHEMA, key, orjson.dumps({**base, "revision": "0"})),
        (ev.REASON_SCHEMA, key, orjson.dumps({**base, "schema_version": True})),
        (ev.REASON_SCHEMA, key, orjson.dumps({**base, "created_at": 1767225600})),
        (ev.REASON_SCHEMA, key, orjson.dumps(base)[:-1] + b',"text":"twice"}'),
        # Valid ISO 8601, but year 10000 and year 0 once in UTC: unreadable once stored.
        (ev.REASON_SCHEMA, key, orjson.dumps({**base, "created_at": "9999-12-31T23:00:00-05:00"})),
        (ev.REASON_SCHEMA, key, orjson.dumps({**base, "occurred_at": "0001-01-01T01:00:00+05:00"})),
    ]
    records: list[tuple[bytes | None, bytes]] = []
    later = []
    for i, (_reason, k, value) in enumerate(bad, start=2):
        records.append((k, value))
        good = valid(i)
        later.append(good)
        records.append((key, good.to_json_bytes()))
    publish_raw(pipeline.bootstrap, pipeline.topic, records)
    consume_until_idle(pipeline.env())

    dlq = read_dlq(pipeline.bootstrap, pipeline.dlq, expected=len(bad))
    got = sorted((dict(m.headers())["cardwright.reason"].decode(), m.key(), m.value()) for m in dlq)
    assert got == sorted((reason, k, value) for reason, k, value in bad)
    for m in dlq:
        headers = dict(m.headers())
        assert headers["cardwright.source.topic"].decode() == pipeline.topic
        assert int(headers["cardwright.source.offset"]) >= 0
        assert headers["cardwright.detail"]
    assert_matches_model(pipeline, settled + later)
