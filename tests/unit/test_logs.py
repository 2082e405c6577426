"""Log lines: JSON or text with the bound context, and no secret in any part of a line."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from cardwright import logs
from cardwright.producers.kafka_config import RateLimitFilter, kafka_logger
from cardwright.schema.errors import ConfigurationError
from cardwright.settings import Settings, load_settings

SENTINEL = "Sentinel-Pw-7f3a9c"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The cardwright handler writing into a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._context.fields.clear()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_message_level_extras_and_bound_instance(captured: io.StringIO) -> None:
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


def test_text_format_is_one_readable_line_with_fields(captured: io.StringIO) -> None:
    logs.configure(log_format="text", stream=captured)
    logs.bind(instance="host-1-abc")
    logging.getLogger("cardwright.consumer").warning("lost %s", [3], extra={"partition": 3})
    text = captured.getvalue()
    assert "WARNING" in text and "[host-1-abc]" in text and "lost [3]" in text
    assert "partition=3" in text
    assert not text.lstrip().startswith("{")


def test_auto_format_is_json_when_the_stream_is_not_a_terminal(captured: io.StringIO) -> None:
    logs.configure(log_format="auto", stream=captured)
    logging.getLogger("x").info("hello")
    assert lines(captured)[0]["msg"] == "hello"


def test_settings_secrets_never_reach_a_line(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def test_unknown_passwords_in_urls_and_pairs_are_masked() -> None:
    redact = logs.Redactor()
    assert redact("to postgresql://u:abc@h/db now") == f"to postgresql://u:{logs.MASK}@h/db now"
    assert redact("sasl.password=xyz1 acks=all") == f"sasl.password={logs.MASK} acks=all"
    assert redact('{"password": "p4ss"}') == f'{{"password": "{logs.MASK}"}}'
    assert redact("http://host:8080/path") == "http://host:8080/path"


def test_secrets_of_finds_secret_kafka_properties_and_the_url_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARDWRIGHT_KAFKA_SSL_KEY_PASSWORD", "key-pass")
    monkeypatch.setenv("CARDWRIGHT_KAFKA_SECURITY_PROTOCOL", "SSL")
    settings = Settings(database_url="postgresql://u:db-pass@h/db")
    found = logs.secrets_of(settings)
    assert {"key-pass", "db-pass"} <= found
    assert "SSL" not in found


def test_an_uncaught_exception_becomes_a_redacted_log_line(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def test_configure_command_reads_format_level_and_secrets_from_the_environment(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDWRIGHT_LOG_FORMAT", "text")
    monkeypatch.setenv("CARDWRIGHT_LOG_LEVEL", "debug")
    monkeypatch.setenv("CARDWRIGHT_KAFKA_SSL_KEYSTORE_PASSWORD", SENTINEL)
    logs.configure_command(stream=captured)
    logging.getLogger("cardwright.x").debug("keystore %s", SENTINEL)
    text = captured.getvalue()
    assert "DEBUG" in text and "keystore" in text and not text.startswith("{")
    assert SENTINEL not in text


def test_configure_command_survives_a_bad_setting_and_the_command_reports_it(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDWRIGHT_LOG_LEVEL", "chatty")
    monkeypatch.setenv("CARDWRIGHT_DATABASE_URL", f"postgresql://u:{SENTINEL}@h/db")
    logs.configure_command(stream=captured)
    logging.getLogger("cardwright.x").info("still logging")
    assert lines(captured)[0]["msg"] == "still logging"
    with pytest.raises(ConfigurationError, match="CARDWRIGHT_LOG_LEVEL") as caught:
        load_settings()
    assert "chatty" not in str(caught.value) and SENTINEL not in str(caught.value)


def test_secrets_given_as_flags_are_masked_too(captured: io.StringIO) -> None:
    logs.configure(log_format="json", stream=captured)
    logs.remember_secrets(Settings(database_url=f"postgresql://u:{SENTINEL}@h/db"))
    logging.getLogger("x").warning("bare %s", SENTINEL)
    assert SENTINEL not in captured.getvalue()


def test_librdkafka_lines_are_rate_limited_and_say_how_many_were_held_back(
    captured: io.StringIO,
) -> None:
    logs.configure(log_format="json", stream=captured)
    assert any(isinstance(f, RateLimitFilter) for f in kafka_logger().filters)
    now = [0.0]
    log = logging.getLogger("cardwright.kafka.test-limited")  # the same filter, a test clock
    log.addFilter(RateLimitFilter(window_s=60, clock=lambda: now[0]))
    for attempt in range(50):
        message = f"Connect to ipv4#127.0.0.1:1 failed (after {attempt}ms)"
        log.error("%s [%s] %s", "FAIL", "rdkafka#producer-1", message)
    now[0] += 3600
    log.error("%s [%s] %s", "FAIL", "rdkafka#producer-1", message)
    first, later = lines(captured)
    assert first["msg"].startswith("FAIL [rdkafka#producer-1] Connect to")
    assert "suppressed" not in first and later["suppressed"] == 49


def test_redact_masks_known_secrets_in_text_printed_outside_logging() -> None:
    logs.add_secrets([SENTINEL])
    assert logs.redact(f"cannot connect as {SENTINEL}") == f"cannot connect as {logs.MASK}"
