"""Tokens an extractor spent: what cost accounting records, counts and budgets.

An extractor that calls a model reports a ``TokenUsage`` with its cards (extractors.base,
``Metered``) and with its failures (``ExtractionFailed.usage``), so extract_runs,
extract_failures, the metrics and the budget guard all read the same numbers. Extractors that
spend nothing (rules) report nothing: ``None`` everywhere means "not metered", not zero.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one or more model calls by one extractor; ``calls`` counts the requests that
    reached the model (retries included), so a 429 storm shows even when it spent nothing."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.model,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.calls + other.calls,
        )


def added(first: TokenUsage | None, second: TokenUsage | None) -> TokenUsage | None:
    """The sum of two usages either of which may be missing (None: nothing was metered)."""
    if first is None:
        return second
    if second is None:
        return first
    return first + second
