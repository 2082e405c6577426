"""A least-recently-used cache bounded by the bytes it holds, for pure per-message work.

A topic is extracted again each time it changes, and each time every one of its messages is
read again. Remembering what one message text yields turns re-extracting a growing topic from
work on every message into work on the new ones. The budget is in bytes, not entries, because
a message may be 32 KiB: a count alone could pin hundreds of megabytes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TextMemo(Generic[V]):
    def __init__(self, compute: Callable[[str], V], budget_bytes: int) -> None:
        self._compute = compute
        self._budget = budget_bytes
        self._used = 0
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()

    def __call__(self, text: str) -> V:
        entry = self._entries.get(text)
        if entry is not None:
            self._entries.move_to_end(text)
            return entry[0]
        value = self._compute(text)
        # The key and the findings derived from it are each at most about the text's size.
        cost = 2 * len(text) + 200
        if cost <= self._budget:
            self._entries[text] = (value, cost)
            self._used += cost
            while self._used > self._budget:
                _, (_, freed) = self._entries.popitem(last=False)
                self._used -= freed
        return value

    def __len__(self) -> int:
        return len(self._entries)
