"""Per-topic debounce on an injected clock: quiet period, maximum delay, retries."""

from __future__ import annotations

from cardwright.consumers.clock import MockedClock
from cardwright.consumers.debounce import Debouncer


def test_a_topic_is_due_once_quiet_for_the_debounce() -> None:
    clock = MockedClock()
    d: Debouncer[str] = Debouncer(debounce_s=3, max_delay_s=30)
    d.touch("t", clock.time())
    clock.advance(2.9)
    assert d.pop_due(clock.time()) == []
    clock.advance(0.2)
    assert d.pop_due(clock.time()) == ["t"]


def test_each_event_pushes_the_deadline_back() -> None:
    d: Debouncer[str] = Debouncer(debounce_s=3, max_delay_s=30)
    d.touch("t", 0)
    d.touch("t", 2)
    assert d.pop_due(4) == []
    assert d.pop_due(5) == ["t"]


def test_a_chatty_topic_fires_at_the_maximum_delay() -> None:
    d: Debouncer[str] = Debouncer(debounce_s=3, max_delay_s=10)
    for second in range(0, 12):
        d.touch("t", float(second))
        due = d.pop_due(float(second))
        if second < 10:
            assert due == []
        else:
            assert due == ["t"]
            break


def test_an_idle_topic_fires_without_new_events() -> None:
    d: Debouncer[str] = Debouncer(debounce_s=1, max_delay_s=5)
    d.touch("t", 0)
    assert d.next_due() == 1
    assert d.pop_due(100) == ["t"]


def test_a_popped_topic_stays_pending_until_done() -> None:
    d: Debouncer[str] = Debouncer(debounce_s=1, max_delay_s=5)
    d.touch("t", 0)
    assert d.pop_due(1) == ["t"]
    assert "t" in d and len(d) == 1
    assert d.pop_due(10) == []  # not due twice
    d.done("t")
    assert "t" not in d and len(d) == 0


def test_a_retry_waits_for_its_backoff_and_counts_attempts() -> None:
    d: Debouncer[str] = Debouncer(debounce_s=1, max_delay_s=5)
    d.touch("t", 0)
    d.pop_due(1)
    assert d.retry_at("t", 5) == 1
    d.touch("t", 2)  # new input does not bring the retry forward
    assert d.pop_due(4) == []
    assert d.pop_due(5) == ["t"]
    assert d.attempts("t") == 1


def test_topics_come_due_in_deadline_order_and_drop_forgets_them() -> None:
    d: Debouncer[str] = Debouncer(debounce_s=1, max_delay_s=5)
    d.touch("b", 0.5)
    d.touch("a", 0)
    d.touch("c", 0.7)
    d.drop({"c"})
    assert d.pop_due(10) == ["a", "b"]
