"""The token budget (consumers/budget.py): its invariant, as a property, and its waits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwright.consumers.budget import WINDOW_S, OverBudget, TokenBudget

calls = st.lists(
    st.tuples(st.floats(min_value=0, max_value=2 * WINDOW_S), st.integers(0, 5_000)),
    max_size=60,
)


@given(limit=st.integers(1, 20_000), attempts=calls)
def test_no_hour_spends_more_than_the_limit_and_one_answer(
    limit: int, attempts: list[tuple[float, int]]
) -> None:
    """Admitted only while the last hour is under the limit, calls one at a time can pass it by
    what the last admitted call spent, never more: any window's total < limit + largest call."""
    budget = TokenBudget(limit)
    spent: list[tuple[float, int]] = []
    for at, tokens in sorted(attempts):
        if budget.wait_s(at) == 0:
            budget.spend(at, tokens)
            spent.append((at, tokens))
    largest = max((t for _, t in spent), default=0)
    for end, _ in spent:
        in_window = sum(t for at, t in spent if at <= end < at + WINDOW_S)
        assert in_window < limit + largest or in_window == 0


@given(limit=st.integers(1, 20_000), attempts=calls, probe=st.floats(0, 3 * WINDOW_S))
def test_after_the_wait_an_extraction_is_admitted(
    limit: int, attempts: list[tuple[float, int]], probe: float
) -> None:
    budget = TokenBudget(limit)
    for at, tokens in sorted(attempts):
        budget.spend(at, tokens)
    end = max([probe, *(at for at, _ in attempts)])
    assert 0 <= budget.wait_s(end) <= WINDOW_S * (1 + 1e-9)
    assert budget.wait_s(budget.admissible_at(end)) == 0


def test_past_the_limit_topics_wait_for_the_oldest_spending_to_leave_the_hour() -> None:
    budget = TokenBudget(1000)
    budget.spend(0.0, 600)
    budget.spend(100.0, 500)
    assert budget.wait_s(200.0) == pytest.approx(WINDOW_S - 200.0)
    with pytest.raises(OverBudget) as caught:
        budget.admit(200.0)
    assert caught.value.spent == 1100 and "CARDWRIGHT_LLM_TOKENS_PER_HOUR=1000" in str(caught.value)
    budget.admit(WINDOW_S)  # the 600 left the window: 500 < 1000
    assert budget.spent(WINDOW_S) == 500
