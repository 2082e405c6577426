"""Client properties: Java .properties parsing, CARDWRIGHT_KAFKA_* variables, precedence,
secrets held as SecretStr until the client config, and librdkafka's rate-limited log lines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from cardwright.producers.kafka_config import (
    RESERVED_ENV,
    RateLimitFilter,
    client_config,
    client_properties,
    kafka_logger,
    merge_properties,
    parse_properties,
    properties_from_env,
    redacted,
)
from cardwright.schema.errors import ConfigurationError
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
    merged = merge_properties(
        Settings(kafka_bootstrap_servers="flag:9092").kafka, file_props, env_props
    )
    assert merged == {"bootstrap.servers": "flag:9092", "sasl.password": "new", "acks": "1"}


def test_file_bootstrap_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = Settings()
    merged = merge_properties(settings.kafka, {"bootstrap.servers": "file:9092"}, {})
    assert merged["bootstrap.servers"] == "file:9092"
    default = merge_properties(settings.kafka, {}, {})["bootstrap.servers"]
    assert default == settings.kafka_bootstrap_servers


def test_client_properties_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("security.protocol=SSL\nsasl.password=x\n", encoding="utf-8")
    settings = Settings(kafka_bootstrap_servers="b:1", kafka_properties_file=str(path))
    props = client_properties(settings.kafka, environ={"CARDWRIGHT_KAFKA_SASL_PASSWORD": "y"})
    assert client_config(props, logger=None) == {
        "security.protocol": "SSL",
        "sasl.password": "y",
        "bootstrap.servers": "b:1",
        "log.connection.close": "false",
        "logger": None,
    }


def test_missing_properties_file_is_a_configuration_error(tmp_path: Path) -> None:
    settings = Settings(kafka_properties_file=str(tmp_path / "absent.properties"))
    with pytest.raises(ConfigurationError, match=r"absent\.properties"):
        client_properties(settings.kafka, environ={})


def test_redacted_masks_secrets_only() -> None:
    props = {"sasl.password": "x", "ssl.key.password": "y", "security.protocol": "SSL"}
    assert redacted(props) == {
        "sasl.password": "********",
        "ssl.key.password": "********",
        "security.protocol": "SSL",
    }


SECRET_NAMES = [
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "sasl.oauthbearer.client.secret",
    "sasl.jaas.config",
    "ssl.key.pem",
]


def test_secret_properties_are_held_as_secretstr_and_unwrapped_only_in_the_client_config() -> None:
    environ = {
        f"CARDWRIGHT_KAFKA_{name.upper().replace('.', '_')}": "s3cret" for name in SECRET_NAMES
    }
    environ["CARDWRIGHT_KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL"
    props = client_properties(Settings(kafka_bootstrap_servers="b:1").kafka, environ=environ)
    for name in SECRET_NAMES:
        assert isinstance(props[name], SecretStr), name
    assert props["security.protocol"] == "SASL_SSL"
    assert "s3cret" not in repr(props) and "s3cret" not in str(props)
    config = client_config(props)
    assert all(config[name] == "s3cret" for name in SECRET_NAMES)
    assert config["logger"] is kafka_logger()


def test_client_config_lets_properties_and_extras_override_the_quiet_defaults() -> None:
    config = client_config({"log.connection.close": "true"}, error_cb=print)
    assert config["log.connection.close"] == "true"
    assert config["error_cb"] is print


def test_redacted_masks_secretstr_values_whatever_their_name() -> None:
    assert redacted({"custom.thing": SecretStr("x"), "acks": "all"}) == {
        "custom.thing": "********",
        "acks": "all",
    }


def librdkafka_record(facility: str, message: str, level: int = logging.ERROR) -> logging.LogRecord:
    """A record as confluent-kafka logs it: ("%s [%s] %s", facility, client name, message)."""
    args = (facility, "rdkafka#producer-7", message)
    return logging.LogRecord("cardwright.kafka", level, __file__, 1, "%s [%s] %s", args, None)


def test_the_first_line_of_a_kind_passes_then_one_per_window_with_the_count_held_back() -> None:
    now = [0.0]
    limit = RateLimitFilter(window_s=60, clock=lambda: now[0])
    refused = "Connect to 127.0.0.1:1 failed (after {}ms)"
    assert limit.filter(librdkafka_record("FAIL", refused.format(0)))
    held = [limit.filter(librdkafka_record("FAIL", refused.format(i))) for i in range(1, 300)]
    assert not any(held)  # numbers differ only: the same kind
    assert limit.filter(librdkafka_record("FAIL", "SSL handshake failed"))  # another kind
    assert limit.filter(librdkafka_record("ERROR", refused.format(3)))  # another facility
    now[0] = 61.0
    later = librdkafka_record("FAIL", refused.format(9))
    assert limit.filter(later)
    assert vars(later)["suppressed"] == 299  # set by the filter; LogRecord does not declare it
    assert not limit.filter(librdkafka_record("FAIL", refused.format(10)))


def test_debug_lines_are_never_held_back() -> None:
    limit = RateLimitFilter(window_s=60, clock=lambda: 0.0)
    assert all(limit.filter(librdkafka_record("BROKER", "x", logging.DEBUG)) for _ in range(5))


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=5, allow_nan=False),
            st.sampled_from(["FAIL", "ERROR"]),
            st.sampled_from(["refused after 1ms", "refused after 22ms", "timed out", "down"]),
        ),
        max_size=200,
    )
)
def test_rate_limit_invariants(steps: list[tuple[float, str, str]]) -> None:
    """Per kind: the first line passes; passed lines are at least a window apart; every line
    is either passed or counted, and each count is reported on the next passed line."""
    window = 10.0
    now = [0.0]
    limit = RateLimitFilter(window_s=window, clock=lambda: now[0])
    passed: dict[tuple[str, str], list[float]] = {}
    held: dict[tuple[str, str], int] = {}
    reported: dict[tuple[str, str], int] = {}
    for gap, facility, message in steps:
        now[0] += gap
        kind = (facility, "refused" if "refused" in message else message)
        record = librdkafka_record(facility, message)
        if limit.filter(record):
            times = passed.setdefault(kind, [])
            assert not times or now[0] - times[-1] >= window
            times.append(now[0])
            reported[kind] = reported.get(kind, 0) + getattr(record, "suppressed", 0)
        else:
            assert kind in passed, "the first line of a kind always passes"
            held[kind] = held.get(kind, 0) + 1
    now[0] += window + 1  # one more line of each kind, a window later, reports what is left
    last_of_kind = {(f, "refused" if "refused" in m else m): (f, m) for _, f, m in steps}
    for kind, (facility, message) in last_of_kind.items():
        record = librdkafka_record(facility, message)
        assert limit.filter(record)
        reported[kind] = reported.get(kind, 0) + getattr(record, "suppressed", 0)
    assert reported == {kind: held.get(kind, 0) for kind in passed}


def test_the_reserved_kafka_names_are_exactly_the_settings_kafka_fields() -> None:
    """CARDWRIGHT_KAFKA_* names of settings are not librdkafka properties."""
    fields = {f"CARDWRIGHT_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in fields if name.startswith("CARDWRIGHT_KAFKA_")} == RESERVED_ENV
