"""The chaos stack's ``broker_restart`` on a three-broker cluster: Kafka as a whole goes down and
comes back with every broker, cleanly stopped or SIGKILLed (a cluster seed once restarted only
broker 1 after stopping all three, and broker 1 alone never came up)."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient

from cardwright.stack import native_kafka
from tests.chaos.stack import ChaosStack

pytestmark = pytest.mark.slow


def test_a_broker_restart_brings_back_every_broker_of_a_cluster() -> None:
    stack = ChaosStack(brokers=3)
    try:
        stack.up()
        before = {n.node: n.pid for n in native_kafka.status(stack.config).nodes}
        assert all(before.values())
        for hard in (False, True):
            result = stack.restart_broker(hard=hard)
            assert result["hard"] is hard
            nodes = native_kafka.status(stack.config).nodes
            assert all(n.running for n in nodes), result
            # Every broker is a new process, and the cluster answers with all three.
            assert not {n.pid for n in nodes} & set(before.values())
            before = {n.node: n.pid for n in nodes}
            metadata = AdminClient({"bootstrap.servers": stack.bootstrap}).list_topics(timeout=10)
            assert len(metadata.brokers) == 3
    finally:
        stack.down()
