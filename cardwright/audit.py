"""The audit log: every event a worker reports, one JSON line each, for checkers to read back.

``CARDWRIGHT_AUDIT_LOG=<path>`` turns it on for ``cardwright consume``. A line holds the wall and
monotonic time, the consumer instance and pid, the event name and its fields ("batch" with the
applied offsets, "run", "commit", "assigned", "revoked", "lost", ...). The per-turn "turn" event
is left out: it says nothing a checker needs and would dwarf the rest.

Each line is one ``os.write`` on an ``O_APPEND`` descriptor: nothing is buffered in the process, so
a SIGKILL loses at most the line being written, and several processes may share one file without
interleaving their lines. Readers should skip a last line that does not parse.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import orjson

from cardwright.consumers import observations as obs
from cardwright.schema.errors import ConfigurationError

ENV = "CARDWRIGHT_AUDIT_LOG"
SKIPPED = frozenset({"turn"})


class AuditLog:
    """An observer that appends each worker event to ``path`` as a JSON line."""

    def __init__(self, path: str, instance: str) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigurationError(f"{ENV}={path!r} cannot be opened: {exc.strerror}") from None
        self.path = path
        self._instance = instance
        self._pid = os.getpid()

    def __call__(self, observation: obs.Observation) -> None:
        name = observation.name
        if name in SKIPPED:
            return
        line = {
            "t": time.time(),
            "m": time.monotonic(),
            "instance": self._instance,
            "pid": self._pid,
            "event": name,
            **obs.fields(observation),
        }
        # Commit offsets are keyed by partition number: orjson writes such keys as strings.
        data = orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"
        written = os.write(self._fd, data)
        while written < len(data):  # a regular file takes it whole; loop in case it did not
            written += os.write(self._fd, data[written:])

    def close(self) -> None:
        os.close(self._fd)


def audit_from_env(instance: str, env: Mapping[str, str] | None = None) -> AuditLog | None:
    """The audit log named by ``CARDWRIGHT_AUDIT_LOG``, or None when it is not set."""
    path = (os.environ if env is None else env).get(ENV)
    return AuditLog(path, instance) if path else None
