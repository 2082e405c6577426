"""Kafka's Java default partitioner for keyed records, in pure Python.

The Java client places a keyed record in ``toPositive(murmur2(key)) % numPartitions``
(``org.apache.kafka.common.utils.Utils.murmur2`` and ``BuiltInPartitioner.partitionForKey``).
librdkafka's ``murmur2_random`` partitioner computes the same thing, which is what our producers
are configured with. This module lets the rest of cardwright (tests, tools, a consumer that wants to
know where a topic lives) predict a partition without asking a producer.

Java's arithmetic is on signed 32-bit ints; here every step is masked to 32 bits, which gives the
same bit pattern, and the result is converted back to a signed int so hashes compare equal with the
numbers Java prints.
"""

from __future__ import annotations

import struct

# Constants of Kafka's Utils.murmur2: the fixed seed and the MurmurHash2 mixing constants.
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24
_MASK32 = 0xFFFFFFFF
_WORDS = struct.Struct("<I")  # Java reads each 4-byte block little-endian.


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of ``data``, as the signed int Java's ``Utils.murmur2`` returns."""
    length = len(data)
    h = (_SEED ^ length) & _MASK32
    whole = length - length % 4
    for (k,) in _WORDS.iter_unpack(data[:whole]):
        k = (k * _M) & _MASK32
        k ^= k >> _R
        k = (k * _M) & _MASK32
        h = (h * _M) & _MASK32
        h ^= k
    tail = data[whole:]
    # Java's switch falls through from case 3 to case 1: the same as this chain of ifs.
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK32
    h ^= h >> 13
    h = (h * _M) & _MASK32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(number: int) -> int:
    """Java's ``Utils.toPositive``: clear the sign bit (``abs`` would overflow on MIN_VALUE)."""
    return number & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition that Java's default partitioner and librdkafka's murmur2_random pick."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, not {partitions}")
    return to_positive(murmur2(key)) % partitions
