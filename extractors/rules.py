"""The default extractor, ``rules``: deterministic pattern rules, offline, standard library only.

Each live message is masked (code and URLs blanked), split into sentences, and every sentence is
asked for its statement kind (question, decision, preference, action item), its dates and its
entities; URLs become link cards. Cards with the same kind and key merge within the topic, so a
person named in ten messages is one card citing all ten. The output order is stable (kind, then
first mention, then title) because a card's position is part of its id.

Work is one pass over the text with precompiled patterns and a dict per topic, so it stays
linear in the topic's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cardwright.extractors.memo import TextMemo
from cardwright.extractors.rules_dates import find_dates
from cardwright.extractors.rules_entities import find_entities
from cardwright.extractors.rules_statements import classify
from cardwright.extractors.rules_text import (
    find_urls,
    mask_code,
    mask_urls,
    normalise,
    split_sentences,
    truncate,
    url_domain,
    url_key,
)
from cardwright.schema.cards import CardDraft, CardKind, TopicSnapshot

NAME = "rules"
VERSION = "1"

# Titles of statement cards are a glance, the body keeps the whole sentence.
_STATEMENT_TITLE_CHARS = 120
# CardDraft's own limits on title and body.
_TITLE_CHARS = 500
_BODY_CHARS = 8000

# What remembered message findings may hold: small next to the process, large enough that a
# member's active topics are re-read from memory (about 100,000 chat-sized messages).
_MEMO_BYTES = 64 * 1024 * 1024

_KIND_ORDER = {kind: index for index, kind in enumerate(CardKind)}
_ENTITY_KINDS = frozenset({CardKind.PERSON, CardKind.PLACE, CardKind.ORGANISATION})


# The version whose rules are rules@2's (extractors/rules2); every other version is rules@1's.
RULES2_VERSION = "2"


class RulesExtractor:
    """Pattern rules over sentences; ``version`` exists so tests can act as an upgraded build.

    ``RulesExtractor(version="2")`` (what ``CARDWRIGHT_EXTRACTOR=rules@2`` asks for) builds the
    rules@2 extractor instead: the entry point names this class, so the dispatch lives here.
    """

    __slots__ = ("_version",)

    # Pure Python over the text: a second thread would only wait for the GIL, and the work of a
    # topic takes milliseconds. The member extracts one topic at a time (consumers/pool.py).
    cpu_bound = True

    def __new__(cls, version: str = VERSION) -> RulesExtractor:
        if cls is RulesExtractor and version == RULES2_VERSION:
            from cardwright.extractors.rules2.extractor import Rules2Extractor

            return super().__new__(Rules2Extractor)
        return super().__new__(cls)

    def __init__(self, version: str = VERSION) -> None:
        if not version or "@" in version or version.strip() != version:
            raise ValueError(f"invalid extractor version {version!r}")
        self._version = version

    @property
    def extractor_id(self) -> str:
        return f"{NAME}@{self._version}"

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        cards = _Cards()
        for position, message in enumerate(snapshot.messages):
            cards.read(position, message.message_id, message.text)
        return cards.drafts()

    def __repr__(self) -> str:
        return f"RulesExtractor(version={self._version!r})"


# (kind, key, title, body, offset in the text) of one mention.
_Finding = tuple[CardKind, str, str, str, int]


def _read_text(text: str) -> tuple[_Finding, ...]:
    """Every mention in one message text, in text order; pure, so it can be remembered."""
    found: list[_Finding] = []
    masked = mask_code(text)
    for url, offset in find_urls(masked):
        found.append((CardKind.LINK, url_key(url), url, url_domain(url), offset))
    masked = mask_urls(masked)
    for sentence in split_sentences(text, masked):
        body = normalise(sentence.text)
        kind = classify(sentence.masked)
        if kind is not None:
            key = " ".join(body.casefold().split())
            title = truncate(body, _STATEMENT_TITLE_CHARS)
            found.append((kind, key, title, body, sentence.offset))
        for date in find_dates(sentence.masked):
            found.append((CardKind.DATE, date.key, date.title, body, sentence.offset + date.offset))
        for entity in find_entities(sentence.masked):
            found.append(
                (entity.kind, entity.key, entity.title, "", sentence.offset + entity.offset)
            )
    return tuple(found)


# Shared by every RulesExtractor in the process: findings depend on the text alone.
_findings = TextMemo(_read_text, _MEMO_BYTES)


@dataclass(slots=True)
class MergedCard:
    """One card being merged: where it was first seen and every message that mentions it."""

    kind: CardKind
    key: str
    title: str
    body: str
    first: tuple[int, int]
    message_ids: list[str] = field(default_factory=list)
    mentions: int = 0

    def cite(self, message_id: str) -> None:
        self.mentions += 1
        # Messages arrive in order, so checking the last id is enough to keep ids unique.
        if not self.message_ids or self.message_ids[-1] != message_id:
            self.message_ids.append(message_id)


class _Cards:
    """All cards of one topic, keyed by (kind, key)."""

    def __init__(self) -> None:
        self._cards: dict[tuple[CardKind, str], MergedCard] = {}

    def read(self, position: int, message_id: str, text: str) -> None:
        for kind, key, title, body, offset in _findings(text):
            self._card(kind, key, title, body, (position, offset)).cite(message_id)

    def drafts(self) -> list[CardDraft]:
        ordered = sorted(
            self._cards.values(),
            key=lambda c: (_KIND_ORDER[c.kind], c.first, c.title.casefold(), c.title, c.key),
        )
        return [
            CardDraft(
                kind=card.kind,
                title=truncate(card.title, _TITLE_CHARS),
                body=truncate(_body(card), _BODY_CHARS),
                message_ids=tuple(card.message_ids),
            )
            for card in ordered
        ]

    def _card(
        self, kind: CardKind, key: str, title: str, body: str, at: tuple[int, int]
    ) -> MergedCard:
        """The card for (kind, key); the first mention sets its title, body and position."""
        card = self._cards.get((kind, key))
        if card is None:
            card = MergedCard(kind=kind, key=key, title=title, body=body, first=at)
            self._cards[(kind, key)] = card
        return card


def _body(card: MergedCard) -> str:
    if card.kind in _ENTITY_KINDS:
        times = "once" if card.mentions == 1 else f"{card.mentions} times"
        messages = len(card.message_ids)
        where = "1 message" if messages == 1 else f"{messages} messages"
        return f"Mentioned {times} in {where}."
    return card.body
