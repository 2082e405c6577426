"""The token budget of one member: at most so many model tokens per hour, then topics wait.

A replay, a prompt change or a flood of edits can each ask a paid model for every topic at once.
``TokenBudget`` keeps what this member's extractions spent over the last hour (a sliding window,
not a calendar hour, so no burst at the top of the hour) and admits an extraction only while
that sum is under the limit. A call's cost is known only after it, so the window may end above
the limit by what the calls admitted last spent: at most one answer's worth per concurrent
extraction (the invariant of tests/unit/test_budget.py). Past the limit the member defers topics
(``ExtractionDeferred``: no attempt counted, previous cards kept) and says so in its log, its
metrics and its readiness (docs/llm.md, "Budget").

Pure: it takes ``now`` (monotonic seconds) and holds no clock; a lock makes it shareable by the
threads of an extraction pool.
"""

from __future__ import annotations

import threading
from collections import deque

from cardwright.schema.errors import CardwrightError

# The budget is per hour because providers bill and rate-limit per minute and day, and an hour
# is long enough to absorb a burst while short enough that a runaway replay is caught early.
WINDOW_S = 3600.0


class OverBudget(CardwrightError):
    """The member's token budget is spent; extraction may resume in ``wait_s`` seconds."""

    def __init__(self, wait_s: float, spent: int, limit: int) -> None:
        super().__init__(
            f"token budget spent: {spent} tokens in the last hour, limit "
            f"CARDWRIGHT_LLM_TOKENS_PER_HOUR={limit}; topics wait {wait_s:.0f} s"
        )
        self.wait_s = wait_s
        self.spent = spent
        self.limit = limit


class TokenBudget:
    def __init__(self, tokens_per_hour: int, window_s: float = WINDOW_S) -> None:
        if tokens_per_hour <= 0:
            raise ValueError("a token budget is positive")
        self.limit = tokens_per_hour
        self._window_s = window_s
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0
        self._lock = threading.Lock()

    def spend(self, now: float, tokens: int) -> None:
        if tokens <= 0:
            return
        with self._lock:
            self._spent.append((now, tokens))
            self._total += tokens

    def spent(self, now: float) -> int:
        """Tokens spent in the window ending at ``now``."""
        with self._lock:
            self._expire(now)
            return self._total

    def admissible_at(self, now: float) -> float:
        """When an extraction may start: ``now`` while under the limit, else the moment enough
        of the oldest spending has left the window."""
        with self._lock:
            self._expire(now)
            total = self._total
            if total < self.limit:
                return now
            for at, tokens in self._spent:
                total -= tokens
                if total < self.limit:
                    return at + self._window_s
            return now + self._window_s  # not reached: the total falls to 0, under any limit

    def wait_s(self, now: float) -> float:
        """0 while an extraction may start at ``now``; else seconds until one may."""
        return max(0.0, self.admissible_at(now) - now)

    def admit(self, now: float) -> None:
        """Raise ``OverBudget`` unless an extraction may start at ``now``."""
        wait = self.wait_s(now)
        if wait > 0:
            raise OverBudget(wait, self.spent(now), self.limit)

    def _expire(self, now: float) -> None:
        # Spending at ``at`` counts until ``at + window`` (the moment admissible_at names).
        while self._spent and self._spent[0][0] + self._window_s <= now:
            self._total -= self._spent.popleft()[1]
