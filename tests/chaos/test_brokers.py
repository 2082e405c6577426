"""The cluster faults' pure part: which offsets partition holds a group (its coordinator)."""

from __future__ import annotations

from tests.chaos.brokers import coordinator_partition


def test_the_coordinator_partition_follows_kafkas_rule() -> None:
    # "test".hashCode() is 3556498 in Java; "polygenelubricants".hashCode() is
    # Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0.
    assert coordinator_partition("test", 50) == 3556498 % 50
    assert coordinator_partition("polygenelubricants", 4) == 0
    # Java's famous collision: "Aa" and "BB" both hash to 2112.
    assert coordinator_partition("Aa", 7) == coordinator_partition("BB", 7) == 2112 % 7
