"""The order of a message's events: (revision, event_id), event_id as its stored text.

storage.messages compares event_ids as their canonical text in code point order, in Python and
in SQL (COLLATE "C"). That must be the UUIDs' own order (by value, i.e. by their 16 bytes), or
"the event with the highest (revision, event_id)" would depend on where it is compared.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cardwright.schema.events import MessageEvent, Op
from cardwright.storage.persist_plan import _newer, version_of

AT = datetime(2024, 5, 1, tzinfo=UTC)


def edit(event_id: uuid.UUID, revision: int) -> MessageEvent:
    return MessageEvent(
        event_id=event_id,
        op=Op.CREATED if revision == 0 else Op.EDITED,
        message_id="m",
        conversation_id="c",
        topic_id="t",
        user_id="u",
        role="user",
        text="x",
        created_at=AT,
        revision=revision,
        occurred_at=AT,
    )


@given(st.uuids(), st.uuids())
def test_canonical_uuid_text_orders_like_the_uuid_bytes(a: uuid.UUID, b: uuid.UUID) -> None:
    """Lowercase hex with hyphens at fixed places: code point order is byte order."""
    assert (str(a) < str(b)) == (a.bytes < b.bytes) == (a < b)
    assert str(a) == str(a).lower()


@given(st.integers(0, 3), st.uuids(), st.integers(0, 3), st.uuids())
def test_newer_is_the_higher_revision_then_the_higher_event_id(
    rev_a: int, id_a: uuid.UUID, rev_b: int, id_b: uuid.UUID
) -> None:
    a, b = edit(id_a, rev_a), edit(id_b, rev_b)
    assert _newer(a, b) == ((rev_a, id_a) > (rev_b, id_b))
    assert version_of(a) == (rev_a, str(id_a))
