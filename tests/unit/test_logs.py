"""Log lines: JSON or text with the bound context, and no secret in any part of a line."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from cardwright import logs
from cardwright.settings import Settings

SENTINEL = "Sentinel-Pw-7f3a9c"


@pytest.fixture
def captured():
    """The cardwright handler writing into a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._context.fields.clear()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_message_level_extras_and_bound_instance(captured):
    logs.configure(log_format="json", stream=captured)
    logs.bind(instance="host-1-abc", group="g")
    logging.getLogger("cardwright.consumer").info(
        "assigned %s", [1, 2], extra={"topic": "events", "partitions": [1, 2], "offset": 7}
    )
    [line] = lines(captured)
    assert line["msg"] == "assigned [1, 2]"
    assert line["level"] == "info"
    assert line["logger"] == "cardwright.consumer"
    assert line["instance"] == "host-1-abc"
    assert line["group"] == "g"
    assert line["topic"] == "events"
    assert line["partitions"] == [1, 2]
    assert line["offset"] == 7
    assert line["ts"].endswith("Z")


def test_text_format_is_one_readable_line_with_fields(captured):
    logs.configure(log_format="text", stream=captured)
    logs.bind(instance="host-1-abc")
    logging.getLogger("cardwright.consumer").warning("lost %s", [3], extra={"partition": 3})
    text = captured.getvalue()
    assert "WARNING" in text and "[host-1-abc]" in text and "lost [3]" in text
    assert "partition=3" in text
    assert not text.lstrip().startswith("{")


def test_auto_format_is_json_when_the_stream_is_not_a_terminal(captured):
    logs.configure(log_format="auto", stream=captured)
    logging.getLogger("x").info("hello")
    assert lines(captured)[0]["msg"] == "hello"


def test_settings_secrets_never_reach_a_line(captured, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CARDWRIGHT_KAFKA_SASL_PASSWORD", SENTINEL + "-kafka")
    settings = Settings(database_url=f"postgresql+psycopg://me:{SENTINEL}@db:5432/cw")
    logs.configure(settings, log_format="json", stream=captured)
    log = logging.getLogger("cardwright.kafka")
    log.error("connect with %s failed", settings.database_url.get_secret_value())
    log.error("sasl %s", SENTINEL + "-kafka", extra={"detail": {"password": SENTINEL}})
    try:
        raise RuntimeError(f"boom {SENTINEL}")
    except RuntimeError:
        log.exception("failed")
    out = captured.getvalue()
    assert SENTINEL not in out
    assert out.count(logs.MASK) >= 4
    assert "postgresql+psycopg://me:" in out  # the rest of the URL stays readable


def test_unknown_passwords_in_urls_and_pairs_are_masked():
    redact = logs.Redactor()
    assert redact("to postgresql://u:abc@h/db now") == f"to postgresql://u:{logs.MASK}@h/db now"
    assert redact("sasl.password=xyz1 acks=all") == f"sasl.password={logs.MASK} acks=all"
    assert redact('{"password": "p4ss"}') == f'{{"password": "{logs.MASK}"}}'
    assert redact("http://host:8080/path") == "http://host:8080/path"


def test_secrets_of_finds_secret_kafka_properties_and_the_url_password(monkeypatch):
    monkeypatch.setenv("CARDWRIGHT_KAFKA_SSL_KEY_PASSWORD", "key-pass")
    monkeypatch.setenv("CARDWRIGHT_KAFKA_SECURITY_PROTOCOL", "SSL")
    settings = Settings(database_url="postgresql://u:db-pass@h/db")
    found = logs.secrets_of(settings)
    assert {"key-pass", "db-pass"} <= found
    assert "SSL" not in found


def test_an_uncaught_exception_becomes_a_redacted_log_line(captured, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    logs.configure(log_format="json", stream=captured)
    logs.add_secrets([SENTINEL])
    try:
        raise ValueError(f"bad url postgresql://u:{SENTINEL}@h/db")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    [line] = lines(captured)
    assert line["level"] == "critical" and "ValueError" in line["exc"]
    assert SENTINEL not in captured.getvalue()
