"""Engine creation and the translation of driver errors into the cardwright error tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from cardwright.errors import DatabaseUnavailable


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


@contextmanager
def translate_errors() -> Iterator[None]:
    """Raise ``DatabaseUnavailable`` for connection-level failures; let the rest through."""
    try:
        yield
    except OperationalError as exc:
        raise DatabaseUnavailable(str(exc.orig or exc).strip()) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable(str(exc.orig or exc).strip()) from exc
        raise


def ping(engine: Engine) -> bool:
    """True when PostgreSQL answers ``SELECT 1``."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except DBAPIError:
        return False
