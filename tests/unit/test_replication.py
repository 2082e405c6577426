"""The replication rule for cardwright's topics and the stack's brokers (producers.replication)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwright.producers.replication import replication_for


@pytest.mark.parametrize(("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2)])
def test_small_clusters(brokers: int, factor: int, min_insync: int) -> None:
    replication = replication_for(brokers)
    assert (replication.factor, replication.min_insync) == (factor, min_insync)


@given(st.integers(min_value=1, max_value=1000))
def test_an_acknowledged_write_outlives_any_one_broker_where_the_cluster_allows(
    brokers: int,
) -> None:
    """Never more replicas than brokers; from three brokers on, an acks=all write is on two
    brokers (min.insync 2) and writes go on with one replica down (factor - min.insync >= 1)."""
    replication = replication_for(brokers)
    assert 1 <= replication.min_insync <= replication.factor <= brokers
    if brokers >= 3:
        assert replication.min_insync >= 2
        assert replication.factor - replication.min_insync >= 1


def test_no_brokers_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one broker"):
        replication_for(0)
