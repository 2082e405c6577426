"""Named failpoints: places where a test can make the process die with SIGKILL.

``CARDWRIGHT_FAILPOINT=name`` arms one failpoint (``name:N`` fires on its N-th hit), so crash
tests kill a consumer at exactly the moment they reason about, not at a random instant.
``name:N:stop`` freezes the process with SIGSTOP there instead, once: a zombie caught at an exact
point (say, inside the replace transaction), which the test later wakes with SIGCONT.
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


ACTIONS = frozenset({"kill", "stop"})


def _armed() -> tuple[str, int, str] | None:
    spec = os.environ.get("CARDWRIGHT_FAILPOINT")
    if not spec:
        return None
    name, _, rest = spec.partition(":")
    nth, _, action = rest.partition(":")
    if name not in KNOWN:
        raise ValueError(f"unknown failpoint {name!r}; known: {sorted(KNOWN)}")
    if action and action not in ACTIONS:
        raise ValueError(f"unknown failpoint action {action!r}; known: {sorted(ACTIONS)}")
    return name, int(nth or "1"), action or "kill"


def failpoint(name: str) -> None:
    """Die here with SIGKILL (or freeze, for ``:stop``) if armed and reached the N-th time."""
    armed = _armed()
    if armed is None or armed[0] != name:
        return
    _hits[name] += 1
    if armed[2] == "stop":
        if _hits[name] == armed[1]:
            os.kill(os.getpid(), signal.SIGSTOP)
    elif _hits[name] >= armed[1]:
        os.kill(os.getpid(), signal.SIGKILL)
