"""Person, place and organisation mentions in one sentence, found by capitalisation and word lists.

A sentence is cut into runs of capitalised words ("Alice Smith", "Baker Street", "Acme Inc");
each run is classified by, in order: a title before it ("Dr. Smith"), the place list, an
organisation or place suffix, the known organisations, a lone acronym, and finally a known first
name or a person trigger word before it ("met Priya Raman"). A run at the start of a sentence is
capitalised anyway, so when it matches nothing its first word is dropped and it is tried again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from cardwright.extractors.rules_gazetteer import (
    ACRONYM_STOP,
    FIRST_NAMES,
    KNOWN_ORGS,
    ORG_SUFFIXES,
    PERSON_TITLES,
    PERSON_TRIGGERS,
    PLACE_SUFFIXES,
    PLACES,
    STOP_CAPS,
)
from cardwright.extractors.rules_text import WORD_RE
from cardwright.schema.cards import CardKind

# "@alice" but not "bob@example.com": the @ must not follow a word character.
_MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,38}[A-Za-z0-9_])?)")
_ACRONYM_RE = re.compile(r"[A-Z]{2,6}")
# Lower-case words that may sit inside a name ("Rio de Janeiro", "University of Oxford").
_NAME_PARTICLES = frozenset({"de", "da", "do", "dos", "del", "van", "von", "der", "du", "la"})
_OF_HEADS = frozenset({"University", "College", "Institute", "Bank", "Museum"})
# "to" and "from" are too common before capitalised non-names to vouch for an unknown name.
_STRONG_PERSON_TRIGGERS = PERSON_TRIGGERS - {"to", "from"}
_MAX_PERSON_WORDS = 3
# Longer capitalised runs are headlines or titles of works, not names.
_MAX_NAME_WORDS = 6


@dataclass(frozen=True, slots=True)
class Entity:
    kind: CardKind
    title: str
    key: str
    offset: int


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    start: int
    end: int


def find_entities(masked: str) -> Iterator[Entity]:
    """Yield entities in ``masked`` (one sentence, code and URLs blanked) in reading order."""
    for match in _MENTION_RE.finditer(masked):
        handle = "@" + match.group(1)
        yield Entity(CardKind.PERSON, handle, handle.casefold(), match.start())
    tokens = [_Token(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(masked)]
    for first, last in _runs(tokens, masked):
        found = _classify(tokens, first, last, masked)
        if found is None and first == 0 and last > first:
            found = _classify(tokens, first + 1, last, masked)
        if found is not None:
            yield found


def _runs(tokens: list[_Token], masked: str) -> Iterator[tuple[int, int]]:
    """Yield (first, last) token indexes of each run of capitalised words, inclusive."""
    i = 0
    while i < len(tokens):
        if not _is_run_word(tokens[i].text):
            i += 1
            continue
        last = i
        while last + 1 < len(tokens) and _spaced(masked, tokens[last], tokens[last + 1]):
            nxt = tokens[last + 1].text
            if _is_run_word(nxt):
                last += 1
            elif _joins(tokens, last, masked):
                last += 2
            else:
                break
        yield i, last
        i = last + 1


def _joins(tokens: list[_Token], last: int, masked: str) -> bool:
    """Whether a particle after ``last`` joins it to a capitalised word ("Bank of America")."""
    if last + 2 >= len(tokens) or not _spaced(masked, tokens[last + 1], tokens[last + 2]):
        return False
    particle, after = tokens[last + 1].text, tokens[last + 2].text
    if not _is_run_word(after):
        return False
    return particle in _NAME_PARTICLES or (particle == "of" and tokens[last].text in _OF_HEADS)


def _classify(tokens: list[_Token], first: int, last: int, masked: str) -> Entity | None:
    words = [t.text for t in tokens[first : last + 1]]
    if len(words) > _MAX_NAME_WORDS:
        return None
    name = " ".join(words)
    lower = name.casefold()
    offset = tokens[first].start
    before = tokens[first - 1] if first > 0 else None

    if before is not None and before.text in PERSON_TITLES and _titled(masked, before, offset):
        titled = f"{before.text}. {' '.join(words[:2])}"
        return _entity(CardKind.PERSON, titled, before.start)
    if lower in PLACES:
        return _entity(CardKind.PLACE, name, offset)
    if len(words) > 1 and (words[-1] in ORG_SUFFIXES or "of" in words):
        return _entity(CardKind.ORGANISATION, name, offset)
    if len(words) > 1 and words[-1] in PLACE_SUFFIXES:
        return _entity(CardKind.PLACE, name, offset)
    if lower in KNOWN_ORGS:
        return _entity(CardKind.ORGANISATION, name, offset)
    if len(words) == 1 and _is_acronym(tokens, first):
        return _entity(CardKind.ORGANISATION, name, offset)
    if _is_person(words, first, before):
        return _entity(CardKind.PERSON, name, offset)
    return None


def _is_person(words: list[str], first: int, before: _Token | None) -> bool:
    names = [w for w in words if w not in _NAME_PARTICLES]
    if len(names) > _MAX_PERSON_WORDS or not all(_is_title_case(w) for w in names):
        return False
    if words[0].casefold() in FIRST_NAMES:
        return True
    trigger = before.text.casefold() if before is not None else ""
    return len(words) > 1 and first > 0 and trigger in _STRONG_PERSON_TRIGGERS


def _is_acronym(tokens: list[_Token], index: int) -> bool:
    word = tokens[index].text
    if not _ACRONYM_RE.fullmatch(word) or word in ACRONYM_STOP or word.lower() in FIRST_NAMES:
        return False
    # An upper-case neighbour means shouting ("PLEASE CALL ME"), not an organisation.
    neighbours = tokens[max(0, index - 1) : index] + tokens[index + 1 : index + 2]
    return not any(len(t.text) > 1 and t.text.isupper() for t in neighbours)


def _entity(kind: CardKind, title: str, offset: int) -> Entity:
    key = " ".join(title.replace(".", " ").split()).casefold()
    return Entity(kind, title, key, offset)


def _is_run_word(word: str) -> bool:
    return word[0].isupper() and word not in STOP_CAPS


def _is_title_case(word: str) -> bool:
    return word[0].isupper() and not word.isupper()


def _spaced(masked: str, left: _Token, right: _Token) -> bool:
    gap = masked[left.end : right.start]
    return gap == " " or (gap.isspace() and len(gap) <= 2)


def _titled(masked: str, title: _Token, name_start: int) -> bool:
    """ "Dr. Smith" or "Dr Smith": only a dot and spaces between the title and the name."""
    return masked[title.end : name_start].strip() in ("", ".")
