"""The member's database role: exactly the privileges ``cardwright consume`` needs, no more.

docs/operations.md ("The member's role") recommends it for production; the chaos suite runs its
members as this role, so that revoking one privilege (a configuration fault, docs/design.md
"Failures: four classes") really takes it away. The tables belong to the role that runs
``cardwright migrate``; members only read and write rows:

  alembic_version   SELECT                   the schema revision check at start-up
  messages, topics  SELECT, INSERT, UPDATE   persisting events (an upsert), the topic rows
  extract_runs      SELECT, INSERT           a run per input state (ON CONFLICT ... RETURNING)
  extract_failures  INSERT                   a failed extraction is recorded
  cards             SELECT, INSERT, DELETE   the replace: delete the old set, insert the new

(SELECT wherever a statement has a WHERE, RETURNING or ON CONFLICT; FOR UPDATE needs UPDATE.)
"""

from __future__ import annotations

import psycopg
from psycopg import sql

GRANTS = (
    "GRANT CONNECT ON DATABASE {database} TO {role}",
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT ON alembic_version TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON messages, topics TO {role}",
    "GRANT SELECT, INSERT ON extract_runs TO {role}",
    "GRANT INSERT ON extract_failures TO {role}",
    "GRANT SELECT, INSERT, DELETE ON cards TO {role}",
)
PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
# What the revoked_permission fault takes away, one at a time: each is needed on every batch or
# on every replace that writes cards.
REVOCABLE = (
    ("INSERT", "messages"),
    ("UPDATE", "topics"),
    ("INSERT", "extract_runs"),
    ("INSERT", "cards"),
    ("DELETE", "cards"),
)


def create_role(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    """A login role without superuser or any privilege of its own (once per cluster)."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))


def grant_member(conn: psycopg.Connection[tuple[object, ...]], database: str, role: str) -> None:
    """Grant ``role`` what a member needs on ``database`` (``conn`` is connected to it)."""
    for statement in GRANTS:
        conn.execute(
            sql.SQL(statement).format(database=sql.Identifier(database), role=sql.Identifier(role))
        )


def privilege(
    conn: psycopg.Connection[tuple[object, ...]], grant: bool, what: str, table: str, role: str
) -> None:
    """GRANT or REVOKE one privilege on one table; it takes effect at the role's next statement."""
    if what not in PRIVILEGES:
        raise ValueError(f"unknown privilege {what!r}; known: {sorted(PRIVILEGES)}")
    template = (
        "GRANT {what} ON {table} TO {role}" if grant else "REVOKE {what} ON {table} FROM {role}"
    )
    conn.execute(
        sql.SQL(template).format(
            what=sql.SQL(what), table=sql.Identifier(table), role=sql.Identifier(role)
        )
    )
