"""`consume` refuses a database whose schema is not the revision its migrations end at."""

from __future__ import annotations

from cardwright.storage.schema_revision import migrations, revision_problem

KNOWN = frozenset({"a1", "b2"})


def test_the_head_revision_is_accepted() -> None:
    assert revision_problem("b2", "b2", KNOWN) is None


def test_an_unmigrated_database_is_told_to_migrate() -> None:
    assert revision_problem(None, "b2", KNOWN) == (
        "database schema is not migrated: run `cardwright migrate`"
    )


def test_an_older_revision_is_told_to_migrate() -> None:
    problem = revision_problem("a1", "b2", KNOWN)
    assert problem is not None and "a1" in problem and problem.endswith("`cardwright migrate`")


def test_a_revision_unknown_to_this_code_is_called_newer_not_migrated_over() -> None:
    problem = revision_problem("z9", "b2", KNOWN)
    assert problem is not None and "newer" in problem and "cardwright migrate`" not in problem


def test_the_bundled_migrations_have_one_head_among_the_known() -> None:
    head, known = migrations()
    assert head in known
