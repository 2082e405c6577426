"""One backoff rule for every retry: doubling from the base, never above the cap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cardwright.consumers.backoff import exponential


def test_doubles_from_the_base() -> None:
    assert [exponential(n, 0.5) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]


@given(st.integers(min_value=-3, max_value=200), st.floats(0.001, 10), st.floats(0.001, 100))
def test_never_below_the_first_step_nor_above_the_cap(
    attempt: int, base: float, cap: float
) -> None:
    wait = exponential(attempt, base, cap)
    assert wait <= cap
    assert wait >= min(base, cap)
    assert exponential(attempt + 1, base, cap) >= wait
