"""One short seeded chaos schedule, every fault kind at least once, must end without anomalies.

CI runs this on every push; `make chaos SEED=... MINUTES=...` runs longer schedules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.faults import KINDS
from tests.chaos.report import summary
from tests.chaos.run import Plan, run_seeded
from tests.chaos.stack import ChaosStack

# Real Kafka and PostgreSQL (the suite's own stack): integration tests too.
pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

# About two and a half minutes of records and faults: every kind once, while records stream in.
SEED = 20261127
MINUTES = 2.0


def test_a_seeded_schedule_with_every_fault_kind_ends_without_anomalies(
    chaos_stack: ChaosStack, tmp_path: Path
) -> None:
    report = run_seeded(chaos_stack, Plan(seed=SEED, minutes=MINUTES, out_dir=tmp_path / "run"))
    assert report["ok"], summary(report)
    assert set(report["faults"]["fired"]) == set(KINDS), summary(report)
    assert report["convergence"]["converged"], summary(report)
