"""The member role's grants (tests/member_role.py) are the ones docs/operations.md recommends."""

from __future__ import annotations

from pathlib import Path

from tests.member_role import GRANTS

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_docs_recommend_exactly_the_grants_the_chaos_members_run_with() -> None:
    text = OPERATIONS.read_text()
    documented = [line for line in text.splitlines() if line.startswith("GRANT ")]
    expected = [g.format(database="cardwright", role="cardwright_member") + ";" for g in GRANTS]
    assert documented == expected
