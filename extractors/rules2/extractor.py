"""The ``rules@2`` extractor: what one message text yields, and how a topic's findings merge.

Per message: code and URLs are masked (rules@1's helpers), the lower-cased text goes once
through the lexicon's automaton, sentences are cut in one pass, and dates, statements and
entities are read from those hits and from two more single-pass patterns (digits, capitalised
words). Every step is one left-to-right pass with possessive or bounded patterns, so the work is
linear in the text; what a text yields is remembered by text, as in rules@1.

Per topic: findings are resolved and merged. A date's descriptor becomes ISO against its own
message's ``created_at`` (never the wall clock) and mentions of the same day merge, whatever
words they used. Entities and statements merge by kind and normalised key; a lone first name or
surname that belongs to exactly one full name already in the topic joins that card. Each card
cites every message that mentions it, in order; the output order is stable.
"""

from __future__ import annotations

import bisect

from cardwright.extractors.memo import TextMemo
from cardwright.extractors.rules import RULES2_VERSION, MergedCard, RulesExtractor
from cardwright.extractors.rules2 import dates, gazetteer, lexicon, statements, text
from cardwright.extractors.rules2.entities import find_entities
from cardwright.extractors.rules2.text import find_urls, mask_code, mask_urls
from cardwright.extractors.rules_text import truncate, url_domain, url_key
from cardwright.schema.cards import CardDraft, CardKind, LiveMessage, TopicSnapshot

_STATEMENT_TITLE_CHARS = 120
_TITLE_CHARS = 500
_BODY_CHARS = 8000
_MEMO_BYTES = 64 * 1024 * 1024
_KIND_ORDER = {kind: index for index, kind in enumerate(CardKind)}
_ENTITY_KINDS = frozenset({CardKind.PERSON, CardKind.PLACE, CardKind.ORGANISATION})

# (kind, key, title, body, offset, date descriptor or None, minutes) of one mention. Date
# mentions carry their descriptor: the key is only known once the message's day is.
Finding = tuple[CardKind, str, str, str, int, dates.Descriptor | None, int]


def read_text(raw: str) -> tuple[Finding, ...]:
    """Every mention in one message text, in text order; pure, so it can be remembered."""
    found: list[Finding] = []
    masked = mask_code(raw) if "`" in raw else raw
    if "://" in masked:
        for url, offset in find_urls(masked):
            found.append((CardKind.LINK, url_key(url), url, url_domain(url), offset, None, -1))
        masked = mask_urls(masked)
    low = masked.lower()
    if len(low) != len(masked):  # a few characters lower-case to two ("İ"): keep offsets
        low = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in masked)
    hits = lexicon.keyword_hits(low)
    spans = text.sentences(masked)
    for index, kind in statements.classify(masked, low, spans, hits):
        start, end, _ = spans[index]
        body = " ".join(raw[start:end].split())
        key = body.casefold()
        title = truncate(body, _STATEMENT_TITLE_CHARS)
        found.append((kind, key, title, body, start, None, -1))
    sentence_starts = [span[0] for span in spans]
    seen: set[tuple[dates.Descriptor, int]] = set()
    bodies: dict[int, str] = {}
    for start, end, descriptor, minutes in dates.find_dates(masked, low, hits):
        # A day said five times in one message is one mention: its card cites the message once.
        if (descriptor, minutes) in seen:
            continue
        seen.add((descriptor, minutes))
        written = " ".join(raw[start:end].split())
        index = max(0, bisect.bisect_right(sentence_starts, start) - 1)
        body = bodies.get(index, "")
        if not body and spans:
            body = bodies[index] = " ".join(raw[spans[index][0] : spans[index][1]].split())
        found.append((CardKind.DATE, "", written, body, start, descriptor, minutes))
    starts = frozenset(sentence_starts)
    for kind, title, key, offset in find_entities(masked, low, starts):
        found.append((kind, key, title, "", offset, None, -1))
    # Not sorted by offset: each kind's findings are in text order already, and a card's place
    # in the output is decided by its first (message, offset), whatever order they arrive in.
    return tuple(found)


_findings = TextMemo(read_text, _MEMO_BYTES)


class Rules2Extractor(RulesExtractor):
    """rules@2, what ``RulesExtractor(version="2")`` builds: a RulesExtractor of version 2."""

    __slots__ = ()

    def __init__(self, version: str = RULES2_VERSION) -> None:
        if version != RULES2_VERSION:
            raise ValueError(f"Rules2Extractor is version {RULES2_VERSION}, not {version!r}")
        super().__init__(version)

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        cards: dict[tuple[CardKind, str], MergedCard] = {}
        for position, message in enumerate(snapshot.messages):
            _read(cards, position, message)
        return _drafts(_fold_names(cards, snapshot))

    def __repr__(self) -> str:
        return "Rules2Extractor()"


def _read(
    cards: dict[tuple[CardKind, str], MergedCard], position: int, message: LiveMessage
) -> None:
    findings = _findings(message.text)
    if not findings:
        return
    today = message.created_at.date()
    for kind, key, title, body, offset, descriptor, minutes in findings:
        if descriptor is not None:
            iso = dates.resolve(descriptor, minutes, today)
            if iso is None:
                continue
            key = iso
            title = iso if title == iso else f"{iso} ({title})"
        card = cards.get((kind, key))
        if card is None:
            card = MergedCard(kind, key, title, body, (position, offset))
            cards[(kind, key)] = card
        card.cite(message.message_id)


def _fold_names(
    cards: dict[tuple[CardKind, str], MergedCard], snapshot: TopicSnapshot
) -> list[MergedCard]:
    """A lone name that is part of exactly one longer person's name joins that person's card."""
    values = list(cards.values())
    people = [c for c in values if c.kind is CardKind.PERSON and " " in c.key]
    if not people:
        return values
    by_part: dict[str, list[MergedCard]] = {}
    for card in people:
        parts = card.key.split()
        for part in parts[1:] if card.key.startswith(_TITLES) else parts:
            by_part.setdefault(part, []).append(card)
    order: dict[str, int] = {}
    kept: list[MergedCard] = []
    for card in cards.values():
        owners = by_part.get(card.key, []) if card.kind is CardKind.PERSON else []
        if " " not in card.key and len(owners) == 1:
            if not order:
                order = {m.message_id: i for i, m in enumerate(snapshot.messages)}
            owner = owners[0]
            merged = set(owner.message_ids).union(card.message_ids)
            owner.message_ids = sorted(merged, key=order.__getitem__)
            owner.mentions += card.mentions
            owner.first = min(owner.first, card.first)
            continue
        kept.append(card)
    return kept


_TITLES = tuple(f"{t.lower()} " for t in gazetteer.PERSON_TITLES)


def _drafts(cards: list[MergedCard]) -> list[CardDraft]:
    # (kind, key) is unique, so the order is total and stable.
    ordered = sorted(cards, key=lambda c: (_KIND_ORDER[c.kind], c.first, c.key))
    drafts = []
    for card in ordered:
        title, body = card.title, card.body
        if card.kind in _ENTITY_KINDS:
            times = "once" if card.mentions == 1 else f"{card.mentions} times"
            where = len(card.message_ids)
            body = f"Mentioned {times} in {where} message{'s' if where != 1 else ''}."
        drafts.append(
            CardDraft(
                kind=card.kind,
                title=title if len(title) <= _TITLE_CHARS else truncate(title, _TITLE_CHARS),
                body=body if len(body) <= _BODY_CHARS else truncate(body, _BODY_CHARS),
                message_ids=tuple(card.message_ids),
            )
        )
    return drafts
