"""The pure murmur2 partitioner agrees with Kafka's Java client, value for value."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwright.producers.partitioner import murmur2, partition_for, to_positive

# apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2:
# the hashes Java's Utils.murmur2 returns (signed ints).
KAFKA_UTILS_TEST = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]

# confluentinc/librdkafka src/rdmurmur2.c, unittest_murmur2 (`java_murmur2_results`, stored there
# as int32 hex). The "1234" tail variants cover every remainder of length % 4.
LIBRDKAFKA_UNITTEST = [
    (b"kafka", 0xD067CF64),
    (b"giberish123456789", 0x8F552B0C),
    (b"1234", 0x9FC97B14),
    (b"234", 0xE7C009CA),
    (b"34", 0x873930DA),
    (b"4", 0x5A4B5CA1),
    (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424F1C),
    (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4A62B377),
    (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xE0E4E09E),
    (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62B8B43F),
    (b"", 0x106E08D9),
]

# dpkp/kafka-python test/test_partitioner.py, test_murmur2_java_compatibility: partitions picked
# by Java's partitioner over 1000 partitions.
JAVA_PARTITIONS_OF_1000 = [
    (b"", 681),
    (b"a", 524),
    (b"ab", 434),
    (b"abc", 107),
    (b"123456789", 566),
    (b"\x00 ", 742),
]


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


@pytest.mark.parametrize(("key", "expected"), KAFKA_UTILS_TEST)
def test_murmur2_matches_kafka_utils_test(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


@pytest.mark.parametrize(("key", "expected"), LIBRDKAFKA_UNITTEST)
def test_murmur2_matches_librdkafka_java_results(key: bytes, expected: int) -> None:
    assert murmur2(key) == _signed32(expected)


@pytest.mark.parametrize(("key", "expected"), JAVA_PARTITIONS_OF_1000)
def test_partition_matches_java_partitioner(key: bytes, expected: int) -> None:
    assert partition_for(key, 1000) == expected


def test_to_positive_clears_the_sign_bit_like_java() -> None:
    """Java's toPositive is ``n & 0x7fffffff``, not ``abs``: the two differ for negative hashes."""
    assert to_positive(-973932308) == 1173551340
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(-(2**31)) == 0
    assert to_positive(479470107) == 479470107


def test_negative_hash_partition_uses_to_positive_not_abs() -> None:
    key = b"21"
    assert murmur2(key) < 0
    assert partition_for(key, 7) == (murmur2(key) & 0x7FFFFFFF) % 7
    assert partition_for(key, 7) != abs(murmur2(key)) % 7


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=512))
def test_partition_is_in_range_and_stable(key: bytes, partitions: int) -> None:
    first = partition_for(key, partitions)
    assert 0 <= first < partitions
    assert partition_for(key, partitions) == first


@given(st.binary(max_size=64))
def test_hash_is_a_signed_32_bit_int(key: bytes) -> None:
    assert -(2**31) <= murmur2(key) < 2**31


def test_topic_ids_spread_evenly_over_partitions() -> None:
    """10,000 topic ids over 6 partitions: each gets its share within 10 %."""
    partitions = 6
    counts = Counter(partition_for(f"topic-{i}".encode(), partitions) for i in range(10_000))
    expected = 10_000 / partitions
    assert set(counts) == set(range(partitions))
    assert all(abs(n - expected) < expected * 0.1 for n in counts.values()), counts


def test_rejects_zero_partitions() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        partition_for(b"k", 0)
