"""Exponential backoff: the one rule every retry in cardwright waits by."""

from __future__ import annotations


def exponential(attempt: int, base: float, cap: float = float("inf")) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): base, 2 base, 4 base, ...
    never more than ``cap``."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
