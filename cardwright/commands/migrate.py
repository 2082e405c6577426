"""``cardwright migrate``: bring the database schema up to date (or print its DDL)."""

from __future__ import annotations

from typing import Annotated

import typer

from cardwright.commands.options import command_settings
from cardwright.schema.errors import DatabaseUnavailable
from cardwright.storage.engine import make_engine, translate_errors
from cardwright.storage.migrate import current_revision, upgrade, upgrade_sql


def migrate(
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the DDL instead of running it.")
    ] = False,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (CARDWRIGHT_DATABASE_URL).")
    ] = None,
) -> None:
    """Apply the Alembic migrations; running it again is harmless."""
    settings = command_settings(database_url=database_url)
    url = settings.database_url.get_secret_value()
    if sql:
        typer.echo(upgrade_sql(url))
        return
    # No statement timeout: a migration may rewrite or index a large table, which takes as long
    # as it takes, and an operator is watching. The lock timeout stays: DDL waiting for a lock
    # queues every member's statement behind it, so it gives up (and can be run again) instead.
    engine = make_engine(
        url, lock_timeout_ms=settings.db_lock_timeout_ms, statement_timeout_ms=None
    )
    try:
        with translate_errors():
            before = current_revision(engine)
            upgrade(engine)
            after = current_revision(engine)
    except DatabaseUnavailable as exc:
        raise DatabaseUnavailable(f"cannot reach the database: {exc}") from None
    finally:
        engine.dispose()
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    typer.echo(f"database schema {state} revision {after}", err=True)
