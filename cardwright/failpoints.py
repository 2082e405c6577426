"""Named failpoints: places where a test can make the process die with SIGKILL.

``CARDWRIGHT_FAILPOINT=name`` arms one failpoint (``name:N`` fires on its N-th hit), so crash
tests kill a consumer at exactly the moment they reason about, not at a random instant.
Unarmed, a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

# The failpoints the code defines; arming an unknown name is a test bug, caught early.
AFTER_BATCH_COMMIT = "after_batch_commit"
REPLACE_AFTER_DELETE = "replace_after_delete"
AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT = "after_db_commit_before_offset_commit"
IN_ON_REVOKE = "in_on_revoke"
KNOWN = frozenset(
    {AFTER_BATCH_COMMIT, REPLACE_AFTER_DELETE, AFTER_DB_COMMIT_BEFORE_OFFSET_COMMIT, IN_ON_REVOKE}
)

_hits: Counter[str] = Counter()


def _armed() -> tuple[str, int] | None:
    spec = os.environ.get("CARDWRIGHT_FAILPOINT")
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    if name not in KNOWN:
        raise ValueError(f"unknown failpoint {name!r}; known: {sorted(KNOWN)}")
    return name, int(nth or "1")


def failpoint(name: str) -> None:
    """Die here with SIGKILL if this failpoint is armed and reached for the N-th time."""
    armed = _armed()
    if armed is None or armed[0] != name:
        return
    _hits[name] += 1
    if _hits[name] >= armed[1]:
        os.kill(os.getpid(), signal.SIGKILL)
