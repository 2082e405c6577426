"""The test suite's consumer launcher: ``python -m tests.member consume ...``.

It runs the real ``cardwright`` command after applying the test hooks that the environment asks
for. These switches exist only here, in the tests; the product reads none of them.

    CARDWRIGHT_FAILPOINT=name[:N[:kill|stop]]  at the N-th hit (default 1) of failpoint ``name``
        die with SIGKILL (every hit from the N-th on), or freeze with SIGSTOP (the N-th only),
        so crash tests stop a member at exactly the moment they reason about;
    CARDWRIGHT_PLANTED_BUG=name  break one guarantee on purpose, by replacing one small
        function of the product; the chaos checker must catch each of them.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from cardwright.schema import failpoints

ACTIONS = frozenset({"kill", "stop"})

# Planted bugs, each one guarantee broken (tests/chaos/scenarios.py reveals each).
COMMIT_BEFORE_EXTRACTION = "commit_before_extraction"  # offsets pass events not yet extracted
REPLACE_WITHOUT_LOCK = "replace_without_lock"  # no per-topic lock in the replace transaction
SKIP_FRESHNESS_FENCE = "skip_freshness_fence"  # stale extractions may overwrite newer cards
EDITS_WITHOUT_REVISION_CHECK = "edits_without_revision_check"  # older revisions overwrite newer
# Bugs the first checker was blind to, because it shared the product's code and assumptions:
THREE_DIGIT_YEAR = "three_digit_year"  # the hash writes year 999 as "999" (strftime's %Y)
FIRST_EVENT_WINS = "first_event_wins"  # the first stored event stays, not the highest
OLD_CREATED_AT_ON_EDIT = "old_created_at_on_edit"  # an edit keeps the stored created_at
# The snapshot ordered by the database's collation (ICU en-US on the chaos databases), not by
# code point: ties in created_at reach the extractor in another order.
COLLATION_SNAPSHOT_ORDER = "collation_snapshot_order"


def _commit_before_extraction() -> None:
    from cardwright.consumers.watermark import Watermarks

    handled = Watermarks.handled

    def never_waits(self: Any, partition: Any, offset: int, waiting_on: Any) -> None:
        handled(self, partition, offset, None)

    Watermarks.handled = never_waits  # type: ignore[method-assign]


def _replace_without_lock() -> None:
    from cardwright.storage import replace

    replace._locked = lambda query: query


def _skip_freshness_fence() -> None:
    from cardwright.storage import replace

    replace._fenced = lambda cards_version, snapshot_version: False  # type: ignore[assignment]


def _edits_without_revision_check() -> None:
    from cardwright.storage import messages, persist_plan
    from cardwright.storage.tables import messages as table

    persist_plan._supersedes = lambda event, stored: event[0] != stored[0]
    messages._supersedes_stored = lambda excluded: table.c.revision != excluded.revision


def _three_digit_year() -> None:
    from datetime import UTC, datetime

    from cardwright.schema import source_hash

    def strftime_utc(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    source_hash.utc_text = strftime_utc  # type: ignore[attr-defined]


def _first_event_wins() -> None:
    from sqlalchemy import false

    from cardwright.storage import messages, persist_plan

    persist_plan._newer = lambda candidate, current: False
    persist_plan._supersedes = lambda event, stored: False
    messages._supersedes_stored = lambda excluded: false()


def _old_created_at_on_edit() -> None:
    from cardwright.storage import messages

    every_field = messages._superseding_fields

    def but_created_at(excluded: Any) -> dict[str, Any]:
        fields = every_field(excluded)
        del fields["created_at"]
        return fields

    messages._superseding_fields = but_created_at


def _collation_snapshot_order() -> None:
    from cardwright.storage import replace
    from cardwright.storage.tables import messages

    replace._snapshot_order = lambda: (messages.c.created_at, messages.c.message_id)


PLANTED: dict[str, Callable[[], None]] = {
    COMMIT_BEFORE_EXTRACTION: _commit_before_extraction,
    REPLACE_WITHOUT_LOCK: _replace_without_lock,
    SKIP_FRESHNESS_FENCE: _skip_freshness_fence,
    EDITS_WITHOUT_REVISION_CHECK: _edits_without_revision_check,
    THREE_DIGIT_YEAR: _three_digit_year,
    FIRST_EVENT_WINS: _first_event_wins,
    OLD_CREATED_AT_ON_EDIT: _old_created_at_on_edit,
    COLLATION_SNAPSHOT_ORDER: _collation_snapshot_order,
}


def plant(name: str) -> None:
    if name not in PLANTED:
        raise ValueError(f"unknown planted bug {name!r}; known: {sorted(PLANTED)}")
    PLANTED[name]()


def arm_failpoint(spec: str) -> None:
    """Arm one failpoint from ``name[:N[:kill|stop]]``."""
    name, _, rest = spec.partition(":")
    nth_text, _, action = rest.partition(":")
    nth = int(nth_text or "1")
    action = action or "kill"
    if action not in ACTIONS:
        raise ValueError(f"unknown failpoint action {action!r}; known: {sorted(ACTIONS)}")
    hits = 0

    def fire() -> None:
        nonlocal hits
        hits += 1
        if action == "stop":
            if hits == nth:
                os.kill(os.getpid(), signal.SIGSTOP)
        elif hits >= nth:
            os.kill(os.getpid(), signal.SIGKILL)

    failpoints.arm(name, fire)


def apply_hooks(environ: Mapping[str, str]) -> None:
    if environ.get("CARDWRIGHT_FAILPOINT"):
        arm_failpoint(environ["CARDWRIGHT_FAILPOINT"])
    if environ.get("CARDWRIGHT_PLANTED_BUG"):
        plant(environ["CARDWRIGHT_PLANTED_BUG"])


def main() -> None:
    apply_hooks(os.environ)
    from cardwright.cli import main as cardwright_main

    sys.argv[0] = "cardwright"
    cardwright_main()


if __name__ == "__main__":
    main()
