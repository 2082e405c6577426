"""Which failure class a PostgreSQL error belongs to, decided from its SQLSTATE alone.

docs/design.md ("Failures: four classes, one place each") classifies database errors
by SQLSTATE class. This module is that decision and nothing else: pure, no driver import, so
the edge (storage.engine.translate_errors) and a future pure member core share one table.

    UNAVAILABLE     the server cannot serve us now: pause every partition, probe, resume
    CONTENTION      this transaction lost a race (deadlock, serialization, lock timeout):
                    retry it soon; the database is healthy, so nothing is paused for it
    CONFIGURATION   the database is not the one this version of cardwright needs (read-only,
                    unmigrated, permission revoked, wrong database): an operator must act
    DATA            the values sent were refused (class 22 data exception, 23 integrity): an
                    event's own fault while persisting, a topic's fault while replacing cards
    UNKNOWN         anything else (a syntax error is a bug in cardwright): never dead-lettered
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    UNAVAILABLE = "unavailable"
    CONTENTION = "contention"
    CONFIGURATION = "configuration"
    DATA = "data"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Classified:
    fault: Fault
    sqlstate: str | None
    fix: str  # what an operator should do; empty when nobody needs to act


# Exact codes first, then two-character classes. The fixes name the action, not the theory.
_CODES: dict[str, tuple[Fault, str]] = {
    "40001": (Fault.CONTENTION, ""),  # serialization_failure
    "40P01": (Fault.CONTENTION, ""),  # deadlock_detected
    "55P03": (Fault.CONTENTION, ""),  # lock_not_available (lock_timeout, NOWAIT)
    "57014": (Fault.CONTENTION, ""),  # query_canceled (statement_timeout, lock_timeout)
    "57P01": (Fault.UNAVAILABLE, ""),  # admin_shutdown
    "57P02": (Fault.UNAVAILABLE, ""),  # crash_shutdown
    "57P03": (Fault.UNAVAILABLE, ""),  # cannot_connect_now (starting up, recovery)
    "25006": (
        Fault.CONFIGURATION,
        "database is read-only: point CARDWRIGHT_DATABASE_URL at the primary",
    ),
    "42501": (
        Fault.CONFIGURATION,
        "permission denied: grant the cardwright role rights on its tables",
    ),
    "42P01": (
        Fault.CONFIGURATION,
        "a table is missing: run `cardwright migrate`",
    ),
    "42703": (
        Fault.CONFIGURATION,
        "a column is missing: run `cardwright migrate`",
    ),
    "3D000": (
        Fault.CONFIGURATION,
        "the database does not exist: check CARDWRIGHT_DATABASE_URL",
    ),
    "3F000": (
        Fault.CONFIGURATION,
        "the schema does not exist: check the search_path and run `cardwright migrate`",
    ),
}
_CLASSES: dict[str, tuple[Fault, str]] = {
    "08": (Fault.UNAVAILABLE, ""),  # connection exception
    "53": (Fault.UNAVAILABLE, ""),  # insufficient resources (disk full, too many connections)
    "28": (
        Fault.CONFIGURATION,
        "authentication failed: check the user and password in CARDWRIGHT_DATABASE_URL",
    ),
    # Other syntax-or-access errors (undefined function, wrong type of an existing column):
    # the schema does not match this version of cardwright.
    "42": (
        Fault.CONFIGURATION,
        "the database schema does not match this cardwright: run `cardwright migrate`",
    ),
    "22": (Fault.DATA, ""),  # data exception: a value the column type refuses
    "23": (Fault.DATA, ""),  # integrity constraint violation
}
# 42601 syntax_error is cardwright's own bug, not the operator's: no fix to name.
_BUGS = frozenset({"42601"})


def classify(sqlstate: str | None) -> Classified:
    """The failure class of a PostgreSQL error with this SQLSTATE (None: no server code)."""
    if not sqlstate or sqlstate in _BUGS:
        return Classified(Fault.UNKNOWN, sqlstate, "")
    fault, fix = _CODES.get(sqlstate) or _CLASSES.get(sqlstate[:2]) or (Fault.UNKNOWN, "")
    return Classified(fault, sqlstate, fix)
