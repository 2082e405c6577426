"""Source hash v1: the logical input state of a topic for one extractor.

sha256 (hex) over the UTF-8 bytes of::

    "cardwright-source-v1\n" + extractor_id + "\n"
    + for each live message ordered by (created_at, message_id):
        json([message_id, role, created_at as UTC "YYYY-MM-DDTHH:MM:SS.ffffffZ", text]) + "\n"

``json`` is compact (``,`` and ``:``) with ``ensure_ascii=False``; the year always has four digits
(``utc_text``). Ties in created_at are ordered by message_id in code point order, which is Python's
``str`` order (not a locale's collation, not UTF-16 order). Golden vectors in
tests/unit/test_source_hash.py pin it; changing it needs a new version tag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from cardwright.schema.cards import LiveMessage
from cardwright.schema.events import utc_text

SOURCE_HASH_VERSION = "cardwright-source-v1"


def ordered(messages: Iterable[LiveMessage]) -> list[LiveMessage]:
    """Messages by (created_at as an instant, message_id by code point)."""
    return sorted(messages, key=lambda m: (m.created_at, m.message_id))


def source_hash(extractor_id: str, messages: Iterable[LiveMessage]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{SOURCE_HASH_VERSION}\n{extractor_id}\n".encode())
    for message in ordered(messages):
        line = json.dumps(
            [message.message_id, message.role, utc_text(message.created_at), message.text],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
