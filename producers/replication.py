"""How many copies of each record a cluster keeps: replication factor and min.insync.replicas.

Pure, and shared by topic creation (``producers.topics``) and the local stack's broker settings
(``cardwright.stack``), so a topic cardwright creates and Kafka's own internal topics agree.

The rule, for a cluster of ``brokers`` brokers: three replicas where there are three brokers
(more add cost, not safety a producer at ``acks=all`` can use), and ``min.insync.replicas`` one
less than the replication factor, at least one. With 3 replicas and 2 in sync required, an
``acks=all`` write survives any one broker being down, and a write that was acknowledged is on
two brokers' logs, so losing one more broker loses no acknowledged event (design, "Flow": the
publisher's contract). With one broker (the development stack) both are 1.
"""

from __future__ import annotations

from dataclasses import dataclass

# Replicas per partition on a cluster of at least this many brokers.
TARGET_REPLICATION = 3


@dataclass(frozen=True, slots=True)
class Replication:
    factor: int
    min_insync: int


def replication_for(brokers: int) -> Replication:
    """The replication factor and min.insync.replicas for a cluster of ``brokers`` brokers."""
    if brokers < 1:
        raise ValueError(f"a cluster has at least one broker, not {brokers}")
    factor = min(TARGET_REPLICATION, brokers)
    return Replication(factor=factor, min_insync=max(1, factor - 1))
