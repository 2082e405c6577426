"""Named failpoints: the moments of the pipeline that crash tests reason about.

A failpoint is a hook that does nothing unless a test arms it with an action (the test suite's
launcher, tests/member.py, arms them to kill or freeze a member at exactly that moment). The
product never arms one and reads no switch for them: unarmed, ``failpoint(name)`` is one dict
lookup. The names live with the contract because the chaos suite's fault kinds are named by
them (docs/design.md, "Invariants, and why they hold").
"""

from __future__ import annotations

from collections.abc import Callable

AFTER_BATCH_COMMIT = "after_batch_commit"  # a batch's messages committed, nothing else yet
REPLACE_AFTER_DELETE = "replace_after_delete"  # inside the replace: old cards deleted
AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT = "after_db_commit_before_offset_commit"
IN_ON_REVOKE = "in_on_revoke"  # partitions being revoked, their offsets not yet committed
KNOWN = frozenset(
    {AFTER_BATCH_COMMIT, REPLACE_AFTER_DELETE, AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT, IN_ON_REVOKE}
)

_armed: dict[str, Callable[[], None]] = {}


def arm(name: str, action: Callable[[], None]) -> None:
    """Run ``action`` each time failpoint ``name`` is reached (tests only)."""
    if name not in KNOWN:
        raise ValueError(f"unknown failpoint {name!r}; known: {sorted(KNOWN)}")
    _armed[name] = action


def disarm_all() -> None:
    _armed.clear()


def failpoint(name: str) -> None:
    """The named moment: runs the armed action, if a test armed one."""
    action = _armed.get(name)
    if action is not None:
        action()
