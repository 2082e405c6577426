"""Which PostgreSQL holds a user's data when cardwright spans several (docs/capacity.md).

Every row cardwright writes (messages, topics, runs, cards, failures) is keyed by ``user_id``,
and no transaction touches two users, so users can live in different databases. This module is
the routing function only; pure. ``shard_of`` is Lamping and Veach's jump consistent hash over
a SHA-256 of the user id: stable across processes and releases (never Python's ``hash``), even
across shards, and growing from N to N+1 shards moves only the users that land on the new one
(about 1/(N+1) of them), which bounds a re-shard's copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_JUMP_MULTIPLIER = 2862933555777941757
_MASK_64 = (1 << 64) - 1


def _key(user_id: str) -> int:
    return int.from_bytes(hashlib.sha256(user_id.encode("utf-8")).digest()[:8], "big")


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash: ``key`` (64 bits) to a bucket in ``range(buckets)``."""
    if buckets < 1:
        raise ValueError(f"at least one shard, not {buckets}")
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK_64
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_of(user_id: str, shards: int) -> int:
    """The shard (0..shards-1) that holds ``user_id``'s rows."""
    return jump_hash(_key(user_id), shards)


@dataclass(frozen=True, slots=True)
class ShardMap:
    """The databases in shard order; a user's shard never changes while the list only grows
    at its end and every user moved by a growth has been copied (docs/capacity.md)."""

    urls: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a shard map needs at least one database")

    def shard(self, user_id: str) -> int:
        return shard_of(user_id, len(self.urls))

    def url_for(self, user_id: str) -> str:
        return self.urls[self.shard(user_id)]

    def split(self, items: Iterable[T], user_of: Callable[[T], str]) -> dict[int, list[T]]:
        """``items`` by shard, each shard's in their original (log) order."""
        out: dict[int, list[T]] = {}
        for item in items:
            out.setdefault(self.shard(user_of(item)), []).append(item)
        return out


def shard_map(urls: Sequence[str]) -> ShardMap:
    return ShardMap(tuple(urls))
