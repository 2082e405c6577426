"""Whether the database's schema is the revision this cardwright was built for.

``cardwright consume`` checks it at start-up (docs/design.md, "Failures: four classes": a
schema not at the expected revision is a configuration fault, a non-zero exit at start-up).
The verdict is pure (:func:`revision_problem`); reading the two revisions is the thin part.
"""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from cardwright.schema.errors import ConfigurationError
from cardwright.storage.engine import translate_errors
from cardwright.storage.migrate import MIGRATIONS_DIR, current_revision


def revision_problem(current: str | None, head: str, known: frozenset[str]) -> str | None:
    """What is wrong with a database at ``current`` for code whose migrations end at ``head``."""
    if current == head:
        return None
    if current is None:
        return "database schema is not migrated: run `cardwright migrate`"
    if current in known:
        return (
            f"database schema is at revision {current}, this cardwright needs {head}: "
            "run `cardwright migrate`"
        )
    return (
        f"database schema is at revision {current}, unknown to this cardwright (made by a "
        f"newer version?); it needs {head}: run the cardwright that migrated it"
    )


def migrations() -> tuple[str, frozenset[str]]:
    """The head revision of the bundled migrations and every revision they know."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    if head is None:
        raise ConfigurationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head, frozenset(r.revision for r in script.walk_revisions())


def check_revision(engine: Engine) -> None:
    """Raise ``ConfigurationError`` naming the fix unless the schema is at the head revision."""
    head, known = migrations()
    with translate_errors():
        current = current_revision(engine)
    problem = revision_problem(current, head, known)
    if problem is not None:
        raise ConfigurationError(problem)
