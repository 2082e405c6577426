"""Planted bugs: test-only switches that break one guarantee on purpose.

The chaos checker must catch each of them; a checker that stays quiet with a bug planted
proves nothing. ``CARDWRIGHT_PLANTED_BUG=name`` turns one on. Never set it in production:
each one loses or corrupts cards by design.
"""

from __future__ import annotations

import os

COMMIT_BEFORE_EXTRACTION = "commit_before_extraction"  # offsets pass events not yet extracted
REPLACE_WITHOUT_LOCK = "replace_without_lock"  # no per-topic lock in the replace transaction
SKIP_FRESHNESS_FENCE = "skip_freshness_fence"  # stale extractions may overwrite newer cards
EDITS_WITHOUT_REVISION_CHECK = "edits_without_revision_check"  # older revisions overwrite newer
KNOWN = frozenset(
    {
        COMMIT_BEFORE_EXTRACTION,
        REPLACE_WITHOUT_LOCK,
        SKIP_FRESHNESS_FENCE,
        EDITS_WITHOUT_REVISION_CHECK,
    }
)


def planted(name: str) -> bool:
    """Whether the planted bug ``name`` is switched on for this process."""
    chosen = os.environ.get("CARDWRIGHT_PLANTED_BUG", "")
    if chosen and chosen not in KNOWN:
        raise ValueError(f"unknown planted bug {chosen!r}; known: {sorted(KNOWN)}")
    return chosen == name
