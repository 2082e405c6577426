"""The checker bites: each planted bug, switched on in the workers, is reported by the checker,
and the same scripted schedule without the bug passes clean (so the schedule itself is sound)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.report import summary
from tests.chaos.scenarios import SCENARIOS, run_scenario
from tests.chaos.stack import ChaosStack

# Real Kafka and PostgreSQL (the suite's own stack): integration tests too.
pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

# What each bug breaks, as the checker names it (tests/chaos/anomalies.py).
EXPECTED = {
    # Offsets committed while topics were debouncing; after the SIGKILL their cards are lost.
    "commit_before_extraction": {"offset_passed_watermark", "final_cards"},
    # A stale edit overwrote a tombstone: the stored message and the cards are wrong.
    "edits_without_revision_check": {"final_messages", "final_cards"},
    # The woken worker stored cards of the old input over newer ones.
    "skip_freshness_fence": {"regressing_card_set", "final_cards"},
    # Two replaces interleaved: the older one landed last.
    "replace_without_lock": {"regressing_card_set", "final_cards"},
}


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_the_checker_reports_each_planted_bug(
    bug: str, chaos_stack: ChaosStack, tmp_path: Path
) -> None:
    report = run_scenario(chaos_stack, bug, planted=True, out_dir=tmp_path / bug)
    found = set(report["anomalies"]["by_kind"])
    assert EXPECTED[bug] <= found, summary(report)


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_the_same_schedule_without_the_bug_is_clean(
    bug: str, chaos_stack: ChaosStack, tmp_path: Path
) -> None:
    report = run_scenario(chaos_stack, bug, planted=False, out_dir=tmp_path / bug)
    assert report["ok"], summary(report)
