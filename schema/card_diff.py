"""The difference between a topic's current card set and a recomputed one, for ``--dry-run``.

Card ids follow the source hash, so they cannot match cards across two derivations; cards are
matched by content instead: ``(kind, title)`` names a card, and a card whose name appears in both
sets with another body or other cited messages is *changed*. A name that occurs several times is
matched occurrence by occurrence, in set order. Pure: no database, no extractor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardFace:
    """What a reader sees of a card."""

    kind: str
    title: str
    body: str
    message_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "message_ids": list(self.message_ids),
        }


@dataclass(frozen=True, slots=True)
class CardDiff:
    added: tuple[CardFace, ...]
    removed: tuple[CardFace, ...]
    changed: tuple[tuple[CardFace, CardFace], ...]  # (before, after)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
        }


def _named(cards: Iterable[CardFace]) -> dict[tuple[str, str, int], CardFace]:
    seen: dict[tuple[str, str], int] = {}
    named = {}
    for card in cards:
        occurrence = seen.get((card.kind, card.title), 0)
        seen[(card.kind, card.title)] = occurrence + 1
        named[(card.kind, card.title, occurrence)] = card
    return named


def diff_cards(before: Iterable[CardFace], after: Iterable[CardFace]) -> CardDiff:
    old, new = _named(before), _named(after)
    return CardDiff(
        added=tuple(card for name, card in new.items() if name not in old),
        removed=tuple(card for name, card in old.items() if name not in new),
        changed=tuple(
            (old[name], card) for name, card in new.items() if name in old and old[name] != card
        ),
    )
