"""Log lines of a cardwright process: JSON or text, with context, and never a secret.

``configure_command`` is the set-up of every ``cardwright`` command (``cardwright.cli.main`` calls
it before any command runs); it reads ``CARDWRIGHT_LOG_FORMAT`` and ``CARDWRIGHT_LOG_LEVEL`` and
calls ``configure``, which installs one handler on the root logger (so librdkafka's lines, on the
rate-limited ``cardwright.kafka`` logger, pass through it too):

- JSON lines (one object per line: ts, level, logger, msg, instance, and any ``extra=`` fields
  such as topic, partition, offsets) when stderr is not a terminal, readable text when it is;
  ``CARDWRIGHT_LOG_FORMAT=json|text`` chooses explicitly.
- ``bind(instance=...)`` adds fields to every later line, so each names the consumer instance.
- A redaction filter masks every known secret (``SecretStr`` settings, the database password,
  secret-looking Kafka properties), passwords inside URLs and ``password=...`` pairs, in the
  message, its arguments, ``extra=`` fields and tracebacks.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cardwright.producers.kafka_config import client_properties
from cardwright.schema.errors import ConfigurationError
from cardwright.settings import Settings, load_settings

MASK = "********"
# Shorter secrets are not replaced wherever they occur (a one-letter password would mask every
# such letter); URL and key=value patterns below still catch them where they are written.
MIN_SECRET_LENGTH = 3
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)([^@/\s]+)(@)")
_PAIR_SECRET = re.compile(
    r"""((?:password|passwd|secret|token|sasl\.jaas\.config)[\w.-]*["']?\s*[=:]\s*["']?)"""
    r"""([^\s"',;}]+)""",
    re.IGNORECASE,
)
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


class Redactor:
    """Masks known secret values and password-shaped substrings in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        known = set(self._secrets) | {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(known, key=len, reverse=True)  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
        return _PAIR_SECRET.sub(rf"\g<1>{MASK}", text)


def secrets_of(settings: Settings) -> set[str]:
    """Every secret value the settings hold: SecretStr fields, URL passwords, Kafka secrets."""
    found: set[str] = set()
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if not isinstance(value, SecretStr):
            continue
        secret = value.get_secret_value()
        try:  # a URL's password is the secret; host and database stay readable in errors
            password = make_url(secret).password
        except ArgumentError:
            found.add(secret)
            continue
        if password:
            found.add(str(password))
    try:
        properties = client_properties(settings.kafka)
    except ConfigurationError:
        properties = {}  # the command reports the unreadable file itself
    for value in properties.values():
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
    return {s for s in found if s}


class ContextFilter(logging.Filter):
    """Adds the bound fields (instance, group, ...) to records that do not carry them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, Any] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no secret survives in any part a formatter may print."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in _extras(record).items():
            if not isinstance(value, int | float | bool) and value is not None:
                setattr(record, key, self.redact(_plain(value)))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _plain(value: Any) -> Any:
    """A JSON-ready form of an ``extra=`` value, as a string if it is not a plain scalar."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            document[key] = _from_json_text(value)
        if record.exc_text:
            document["exc"] = record.exc_text
        return orjson.dumps(document, default=str).decode()


def _from_json_text(value: Any) -> Any:
    """Extras were flattened to JSON text by the redaction filter; nest them again."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        instance = extras.pop("instance", None)
        fields = " ".join(f"{k}={v}" for k, v in extras.items())
        where = f" [{instance}]" if instance else ""
        line = (
            f"{_timestamp(record)} {record.levelname:<7} {record.name}{where} {record.getMessage()}"
        )
        if fields:
            line += f"  {fields}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


_context = ContextFilter()
_redactor = Redactor()


def configure(
    settings: Settings | None = None,
    *,
    log_format: str = "auto",
    level: str = "INFO",
    stream: TextIO | None = None,
) -> None:
    """Install the cardwright handler on the root logger (replacing an earlier one)."""
    target = stream or sys.stderr
    if settings is not None:
        _redactor.add(secrets_of(settings))
    use_json = log_format == "json" or (log_format == "auto" and not target.isatty())
    handler = logging.StreamHandler(target)
    handler.set_name("cardwright")
    handler.addFilter(_context)
    handler.addFilter(RedactingFilter(_redactor))
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "cardwright"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def configure_command(stream: TextIO | None = None) -> None:
    """The logging set-up every command shares: format and level from the environment, and the
    environment's secrets known to the redaction filter before the first line."""
    try:
        settings = load_settings()
    except ConfigurationError:
        # The command reports the bad setting when it loads its settings; until then, defaults.
        configure(stream=stream)
        return
    configure(settings, log_format=settings.log_format, level=settings.log_level, stream=stream)


def remember_secrets(settings: Settings) -> None:
    """Mask the secrets of settings a command built from its flags (``--database-url``) too."""
    _redactor.add(secrets_of(settings))


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    """A crash becomes one (redacted) log line instead of a raw traceback on stderr."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("cardwright").critical("uncaught exception", exc_info=(kind, error, trace))


def bind(**fields: Any) -> None:
    """Name these fields (e.g. ``instance``) on every later log line of this process."""
    _context.fields.update({k: v for k, v in fields.items() if v is not None})


def add_secrets(secrets: Iterable[str]) -> None:
    _redactor.add(secrets)


def redact(text: str) -> str:
    """``text`` with every known secret masked: for what is printed outside a log line."""
    return _redactor(text)
