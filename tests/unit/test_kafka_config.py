"""Client properties: Java .properties parsing, CARDWRIGHT_KAFKA_* variables, precedence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cardwright.errors import ConfigurationError
from cardwright.producers.kafka_config import (
    RepeatFilter,
    client_properties,
    merge_properties,
    parse_properties,
    properties_from_env,
    redacted,
)
from cardwright.settings import Settings


def test_properties_file_syntax_follows_java_properties() -> None:
    text = (
        "# a comment\n"
        "! another comment\n"
        "\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism : PLAIN\n"
        "sasl.username   alice\n"
        "  sasl.password = p\\u00e4ss=word \n"
        "client.id = one\\\n"
        "     two\n"
        "path = C:\\\\kafka\\\\ca.pem\n"
        "empty.value=\n"
        "key\\ with\\=odd\\:chars = v\r\n"
        "tabbed\\tvalue=a\\tb"
    )
    assert parse_properties(text) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "päss=word ",
        "client.id": "onetwo",
        "path": "C:\\kafka\\ca.pem",
        "empty.value": "",
        "key with=odd:chars": "v",
        "tabbed\tvalue": "a\tb",
    }


def test_a_comment_character_inside_a_continuation_is_content() -> None:
    assert parse_properties("a = 1,\\\n  # 2\n") == {"a": "1,# 2"}


def test_even_backslashes_do_not_continue_a_line() -> None:
    assert parse_properties("a = x\\\\\nb = y\n") == {"a": "x\\", "b": "y"}


def test_malformed_unicode_escape_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="uxxxx"):
        parse_properties("a = \\u12\n")


def test_env_variables_map_to_dotted_lowercase_properties() -> None:
    environ = {
        "CARDWRIGHT_KAFKA_SASL_PASSWORD": "s3cret",
        "CARDWRIGHT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CARDWRIGHT_KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
        "CARDWRIGHT_KAFKA_CLIENT_ID": "",
        "CARDWRIGHT_EVENTS_TOPIC": "t",
        "PATH": "/usr/bin",
    }
    assert properties_from_env(environ) == {
        "sasl.password": "s3cret",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": "/etc/ca.pem",
    }


def test_settings_names_are_not_taken_for_properties() -> None:
    environ = {
        "CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS": "h:1",
        "CARDWRIGHT_KAFKA_PROPERTIES_FILE": "/x.properties",
    }
    assert properties_from_env(environ) == {}


def test_env_overrides_file_and_explicit_bootstrap_overrides_both() -> None:
    file_props = {"bootstrap.servers": "file:9092", "sasl.password": "old", "acks": "1"}
    env_props = {"sasl.password": "new"}
    merged = merge_properties(Settings(kafka_bootstrap_servers="flag:9092"), file_props, env_props)
    assert merged == {"bootstrap.servers": "flag:9092", "sasl.password": "new", "acks": "1"}


def test_file_bootstrap_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = Settings()
    merged = merge_properties(settings, {"bootstrap.servers": "file:9092"}, {})
    assert merged["bootstrap.servers"] == "file:9092"
    default = merge_properties(settings, {}, {})["bootstrap.servers"]
    assert default == settings.kafka_bootstrap_servers


def test_client_properties_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("security.protocol=SSL\nsasl.password=x\n", encoding="utf-8")
    settings = Settings(kafka_bootstrap_servers="b:1", kafka_properties_file=str(path))
    props = client_properties(settings, environ={"CARDWRIGHT_KAFKA_SASL_PASSWORD": "y"})
    assert props == {"security.protocol": "SSL", "sasl.password": "y", "bootstrap.servers": "b:1"}


def test_missing_properties_file_is_a_configuration_error(tmp_path: Path) -> None:
    settings = Settings(kafka_properties_file=str(tmp_path / "absent.properties"))
    with pytest.raises(ConfigurationError, match=r"absent\.properties"):
        client_properties(settings, environ={})


def test_redacted_masks_secrets_only() -> None:
    props = {"sasl.password": "x", "ssl.key.password": "y", "security.protocol": "SSL"}
    assert redacted(props) == {
        "sasl.password": "********",
        "ssl.key.password": "********",
        "security.protocol": "SSL",
    }


def test_repeated_librdkafka_lines_pass_once_per_window() -> None:
    now = [0.0]
    repeat = RepeatFilter(window_s=60, clock=lambda: now[0])

    def passes(message: str) -> bool:
        record = logging.LogRecord("k", logging.ERROR, __file__, 1, message, None, None)
        return repeat.filter(record)

    assert passes("Connect to 127.0.0.1:1 failed (after 0ms)")
    assert not passes("Connect to 127.0.0.1:1 failed (after 12ms)")  # numbers differ only
    assert passes("SSL handshake failed")
    now[0] = 61.0
    assert passes("Connect to 127.0.0.1:1 failed (after 3ms)")
