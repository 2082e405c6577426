"""Engine creation and the translation of driver errors into the cardwright error tree.

The translation classifies by SQLSTATE (``storage.sqlstate``); this module only reads the code
off the driver's exception and raises the matching error of ``cardwright.schema.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from cardwright.schema.errors import (
    DatabaseContention,
    DatabaseMisconfigured,
    DatabaseRefused,
    DatabaseUnavailable,
)
from cardwright.storage.sqlstate import Classified, Fault, classify

# psycopg refuses some values before they reach the server (a NUL character in text, which
# PostgreSQL would refuse with 22021): a DataError without SQLSTATE, classified as class 22.
_CLIENT_DATA_EXCEPTION = "22000"

# Every connection cardwright opens bounds how long one statement may wait, so that a session
# holding a row lock (an operator's open transaction, a stuck client) makes a member retry and
# report itself not ready instead of hanging silently (docs/design.md, "Failures: four classes":
# a lock timeout is transient). The errors, 55P03 lock_not_available and 57014 query_canceled,
# are classified as contention by storage.sqlstate and retried.
#
# 10 s: far longer than any healthy replace or batch transaction holds a topic or message row
# (milliseconds to a second under load), yet short enough that a member blocked behind a
# foreign lock says so well inside the liveness window. CARDWRIGHT_DB_LOCK_TIMEOUT_MS changes it.
LOCK_TIMEOUT_MS = 10_000
# 60 s: longer than the largest batch statement (a 1,000-event upsert, a topic's card insert)
# takes on a loaded server, and well inside the 300 s max.poll.interval.ms, so a runaway
# statement is cancelled before the group expels the member. CARDWRIGHT_DB_STATEMENT_TIMEOUT_MS.
STATEMENT_TIMEOUT_MS = 60_000


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    lock_timeout_ms: int | None = LOCK_TIMEOUT_MS,
    statement_timeout_ms: int | None = STATEMENT_TIMEOUT_MS,
) -> Engine:
    """An engine for the psycopg 3 driver whose sessions have the given lock and statement
    timeouts (None or 0: no timeout, PostgreSQL's default).

    ``pool_pre_ping`` makes a connection that PostgreSQL dropped (restart, pg_terminate_backend)
    fail at checkout, where it is replaced, instead of in the middle of a transaction.
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(
        url,
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args={
            # A consumer must notice a dead server quickly and pause, not hang in connect.
            "connect_timeout": 5,
            "options": session_options(url, lock_timeout_ms, statement_timeout_ms),
        },
    )


def session_options(url: str, lock_timeout_ms: int | None, statement_timeout_ms: int | None) -> str:
    """libpq ``options`` setting the timeouts at connection start-up (no extra round trip, and a
    pool reset cannot undo them). ``options`` the URL carries itself come last, so a setting the
    operator wrote into CARDWRIGHT_DATABASE_URL wins."""
    given = make_url(url).query.get("options", ())
    parts = [
        f"-c lock_timeout={int(lock_timeout_ms or 0)}",
        f"-c statement_timeout={int(statement_timeout_ms or 0)}",
    ]
    parts.extend([given] if isinstance(given, str) else given)
    return " ".join(parts)


def classify_error(exc: DBAPIError) -> Classified:
    """The failure class of a driver error: its SQLSTATE, else what the driver's type says."""
    sqlstate: str | None = getattr(exc.orig, "sqlstate", None)
    if sqlstate is None and isinstance(exc, (DataError, IntegrityError)):
        sqlstate = _CLIENT_DATA_EXCEPTION
    classified = classify(sqlstate)
    if classified.fault is Fault.UNKNOWN and (
        exc.connection_invalidated or isinstance(exc, OperationalError)
    ):
        # The connection itself failed (refused, reset, timed out: no server code), or the
        # driver calls it operational (system errors of class 58, ...): wait and retry.
        return Classified(Fault.UNAVAILABLE, sqlstate, "")
    return classified


@contextmanager
def translate_errors() -> Iterator[None]:
    """Raise the cardwright error of a driver error's failure class.

    ``DatabaseUnavailable``, ``DatabaseContention``, ``DatabaseMisconfigured`` or
    ``DatabaseRefused``; an error of no known class (a bug) goes through untouched.
    """
    try:
        yield
    except DBAPIError as exc:
        detail = str(exc.orig or exc).strip()
        classified = classify_error(exc)
        if classified.fault is Fault.UNAVAILABLE:
            raise DatabaseUnavailable(detail) from exc
        if classified.fault is Fault.CONTENTION:
            raise DatabaseContention(classified.sqlstate, detail) from exc
        if classified.fault is Fault.CONFIGURATION:
            raise DatabaseMisconfigured(classified.sqlstate, classified.fix, detail) from exc
        if classified.fault is Fault.DATA:
            raise DatabaseRefused(classified.sqlstate, detail) from exc
        raise


def ping(engine: Engine) -> bool:
    """True when PostgreSQL answers ``SELECT 1``."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except DBAPIError:
        return False
