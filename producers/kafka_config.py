"""librdkafka client properties shared by every Kafka client cardwright makes.

Producers, consumers and admin clients all start from :func:`client_properties`, which merges,
from lowest to highest precedence:

1. ``CARDWRIGHT_KAFKA_PROPERTIES_FILE``: a Java-style ``.properties`` file (``key=value``,
   ``key: value`` or ``key value``; ``#``/``!`` comments; ``\\`` line continuations and escapes),
   the format Kafka's own tools and cloud providers hand out for security settings.
2. ``CARDWRIGHT_KAFKA_<PROP>`` environment variables, one per property: drop the prefix, lower
   the case and turn ``_`` into ``.``. ``CARDWRIGHT_KAFKA_SASL_PASSWORD`` sets ``sasl.password``,
   ``CARDWRIGHT_KAFKA_SECURITY_PROTOCOL`` sets ``security.protocol``. Empty values are ignored.
   Names that belong to settings are not properties: ``CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS`` and
   ``CARDWRIGHT_KAFKA_PROPERTIES_FILE`` keep their settings meaning. A property whose own name
   contains ``_`` cannot be spelled this way; put it in the properties file.
3. ``bootstrap.servers`` from settings (``--bootstrap-servers`` or
   ``CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS``) when given explicitly; otherwise the file's value, if
   it has one, else the settings default (the native local stack).

Values of secret-looking properties (names with password, secret, key, token or jaas in them,
such as ``sasl.password``, ``ssl.key.password``, ``sasl.oauthbearer.client.secret``) are held as
pydantic ``SecretStr`` and unwrapped only by :func:`client_config`, at the point a client is
built; log properties only through :func:`redacted`.

:func:`client_config` also routes librdkafka's own log lines to :func:`kafka_logger` instead of
raw ``%3|...`` lines on stderr. That logger passes the first line of each kind (facility and
message shape) and then at most one per window, counting the ones it held back.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import SecretStr

from cardwright.schema.errors import ConfigurationError

ENV_PREFIX = "CARDWRIGHT_KAFKA_"
# The settings that own CARDWRIGHT_KAFKA_* names (cardwright.settings.Settings' kafka_ fields;
# a unit test keeps the two lists equal).
RESERVED_ENV = frozenset({"CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS", "CARDWRIGHT_KAFKA_PROPERTIES_FILE"})
_SECRET_WORDS = ("password", "secret", "key", "token", "jaas")
MASK = "********"
# librdkafka retries a refused connection many times a second and logs every attempt; one line
# per kind of message per minute still tells an operator what is wrong.
_LOG_REPEAT_WINDOW_S = 60.0
_LOG_KEYS_KEPT = 1000  # kinds of message remembered; bounded so a long run cannot grow it
# What varies between lines of one kind: numbers (ports, ms, counts, client ids) and addresses.
_VARYING = re.compile(r"\d+")

# The value type of client properties: secrets stay wrapped until client_config.
PropertyValue: TypeAlias = str | SecretStr
# librdkafka logs every closed broker connection, and brokers close idle ones (after
# connections.max.idle.ms): noise on a healthy cluster. A properties file may turn it back on.
_QUIET_DEFAULTS: Mapping[str, str] = {"log.connection.close": "false"}

# java.util.Properties: lines end at \n, \r or \r\n; keys end at an unescaped '=', ':' or blank.
_NEWLINE = re.compile(r"\r\n|\r|\n")
_BLANKS = " \t\f"
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|u|.)", re.DOTALL)
_ESCAPED_CHARS = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text the way ``java.util.Properties.load`` does."""
    result: dict[str, str] = {}
    for line in _logical_lines(text):
        key, value = _split_key_value(line)
        result[_unescape(key)] = _unescape(value)
    return result


def _logical_lines(text: str) -> Iterator[str]:
    pending: str | None = None  # a logical line continued by a trailing backslash
    for natural in _NEWLINE.split(text):
        stripped = natural.lstrip(_BLANKS)
        if pending is None and (not stripped or stripped[0] in "#!"):
            continue
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        continued = trailing % 2 == 1  # an even run of backslashes is escaped backslashes
        if continued:
            stripped = stripped[:-1]
        pending = stripped if pending is None else pending + stripped
        if not continued:
            yield pending
            pending = None
    if pending:
        yield pending


def _split_key_value(line: str) -> tuple[str, str]:
    i = 0
    while i < len(line) and line[i] not in "=:" + _BLANKS:
        i += 2 if line[i] == "\\" else 1
    key, rest = line[:i], line[i:].lstrip(_BLANKS)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_BLANKS)
    return key, rest


def _unescape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code == "u":
            raise ConfigurationError(f"malformed \\uxxxx escape in properties: {text!r}")
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPED_CHARS.get(code, code)

    return _ESCAPE.sub(replace, text)


def properties_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """librdkafka properties named by ``CARDWRIGHT_KAFKA_<PROP>`` variables (see the docstring)."""
    result: dict[str, str] = {}
    for name, value in environ.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in RESERVED_ENV or value == "":
            continue
        prop = upper.removeprefix(ENV_PREFIX).lower().replace("_", ".")
        if prop:
            result[prop] = value
    return result


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """What the service settings say about Kafka (cardwright.settings.Settings.kafka)."""

    bootstrap_servers: str
    # Given by a flag or CARDWRIGHT_KAFKA_BOOTSTRAP_SERVERS, so it beats the properties file.
    bootstrap_explicit: bool = False
    properties_file: str | None = None


def merge_properties(
    settings: KafkaSettings,
    file_properties: Mapping[str, str],
    env_properties: Mapping[str, str],
) -> dict[str, str]:
    """Apply the precedence of the module docstring; pure, so it is tested without files."""
    merged = {**file_properties, **env_properties}
    if settings.bootstrap_explicit or "bootstrap.servers" not in merged:
        merged["bootstrap.servers"] = settings.bootstrap_servers
    return merged


def client_properties(
    settings: KafkaSettings, environ: Mapping[str, str] | None = None
) -> dict[str, PropertyValue]:
    """The librdkafka properties every cardwright client starts from; secrets wrapped."""
    file_properties: dict[str, str] = {}
    if settings.properties_file:
        path = Path(settings.properties_file)
        try:
            file_properties = parse_properties(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read Kafka properties file {path}: {exc}") from None
    env_properties = properties_from_env(os.environ if environ is None else environ)
    merged = merge_properties(settings, file_properties, env_properties)
    return {key: SecretStr(value) if is_secret(key) else value for key, value in merged.items()}


def is_secret(name: str) -> bool:
    """Whether a property's value is a secret (or may hold one, as sasl.jaas.config does)."""
    return any(word in name.lower() for word in _SECRET_WORDS)


def plain(value: PropertyValue) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def client_config(properties: Mapping[str, PropertyValue], **extra: Any) -> dict[str, Any]:
    """The configuration dict a confluent-kafka client is built with: the only place where the
    secrets are unwrapped. librdkafka logs through :func:`kafka_logger`; ``extra`` (callbacks,
    group settings) wins over the properties."""
    config: dict[str, Any] = {**_QUIET_DEFAULTS, "logger": kafka_logger()}
    config.update({key: plain(value) for key, value in properties.items()})
    config.update(extra)
    return config


def redacted(properties: Mapping[str, PropertyValue]) -> dict[str, str]:
    """A copy safe to log: values of secret-looking properties are masked."""
    return {
        key: MASK if is_secret(key) or isinstance(value, SecretStr) else value
        for key, value in properties.items()
    }


class RateLimitFilter(logging.Filter):
    """Passes the first line of each kind, then at most one per window, and counts the rest.

    A line's kind is its librdkafka facility (``FAIL``, ``ERROR``, ...) and its message with the
    numbers blanked out: "Connect to ...:1 failed (after 0ms)" and "(after 12ms)" are one kind.
    The next line of a kind that passes says how many were held back, as ``suppressed=N``.
    DEBUG lines pass untouched: an operator asked for them with librdkafka's ``debug``.
    """

    def __init__(
        self,
        window_s: float = _LOG_REPEAT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            return True
        key = _kind(record)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._window_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) >= _LOG_KEYS_KEPT:
            self._last.clear()
            self._held.clear()
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.suppressed = held
        return True


def _kind(record: logging.LogRecord) -> tuple[str, str]:
    # confluent-kafka logs librdkafka's lines as ("%s [%s] %s", facility, client name, message).
    args = record.args
    if isinstance(args, tuple) and len(args) == 3:
        return str(args[0]), _VARYING.sub("#", str(args[2]))
    return "", _VARYING.sub("#", record.getMessage())


_KAFKA_LOGGER = logging.getLogger("cardwright.kafka")
_KAFKA_LOGGER.addFilter(RateLimitFilter())


def kafka_logger() -> logging.Logger:
    """The logger Kafka clients pass as librdkafka's ``logger`` property."""
    return _KAFKA_LOGGER
