"""Engine creation and the translation of driver errors into the cardwright error tree.

The translation classifies by SQLSTATE (``storage.sqlstate``); this module only reads the code
off the driver's exception and raises the matching error of ``cardwright.schema.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
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


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for the psycopg 3 driver.

    ``pool_pre_ping`` makes a connection that PostgreSQL dropped (restart, pg_terminate_backend)
    fail at checkout, where it is replaced, instead of in the middle of a transaction.
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(
        url,
        pool_size=pool_size,
        pool_pre_ping=True,
        # A consumer must notice a dead server quickly and pause, not hang in connect.
        connect_args={"connect_timeout": 5},
    )


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
