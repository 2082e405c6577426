"""The byte-bounded text memo: remembers pure results, never holds more than its budget."""

from __future__ import annotations

from cardwright.extractors.memo import TextMemo


def test_a_text_is_computed_once_while_remembered() -> None:
    calls: list[str] = []

    def compute(text: str) -> int:
        calls.append(text)
        return len(text)

    memo = TextMemo(compute, budget_bytes=10_000)
    assert memo("hello") == 5
    assert memo("hello") == 5
    assert calls == ["hello"]


def test_the_least_recently_used_texts_leave_when_the_budget_is_spent() -> None:
    calls: list[str] = []

    def compute(t: str) -> str:
        calls.append(t)
        return t.upper()

    memo = TextMemo(compute, budget_bytes=2 * (2 * 100 + 200))
    a, b, c = "a" * 100, "b" * 100, "c" * 100
    memo(a)
    memo(b)
    memo(a)  # a is now the most recent
    memo(c)  # evicts b
    assert len(memo) == 2
    memo(a)
    memo(b)
    assert calls == [a, b, c, b]


def test_a_text_larger_than_the_budget_is_computed_but_not_kept() -> None:
    memo = TextMemo(str.upper, budget_bytes=100)
    assert memo("x" * 1000) == "X" * 1000
    assert len(memo) == 0
