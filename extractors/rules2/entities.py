"""Person, place and organisation mentions of one masked message.

Capitalised words are found by one pattern over the whole message and grouped into runs in a
single loop ("Alice Smith", "Bank of America", "Prof. Kim"); only the few runs are looked at
further. A run is, in order: a titled person ("Dr. Brown", "Herr Müller"), a known place, an
organisation or place by its last or first word ("Acme Inc", "Hotel Adlon"), a known
organisation, a lone acronym, a person by a known first name or by the word before it ("met
Priya Raman", "email Lena"), and a venue when an unknown run of several words follows "at"
("at Blue Bottle"). A run opening a sentence is capitalised anyway, so when its whole is not
known its first word is dropped, as in rules@1.
"""

from __future__ import annotations

import re

from cardwright.extractors.rules2 import gazetteer as g
from cardwright.extractors.rules2.statements import IMPERATIVES
from cardwright.extractors.rules_gazetteer import ACRONYM_STOP
from cardwright.schema.cards import CardKind

_CAP = r"[A-ZÀ-ÖØ-Þ][^\W_]*+(?:['’-][^\W\d_]++)*+"
_CAP_RE = re.compile(rf"(?<![\w'’@.\-/]){_CAP}")
# A stretch of capitalised words with what may join them (a title's dot, a particle): only
# short stretches are cut into runs word by word, so 32 KiB of "Alice Bob Acme" is one match.
_STRETCH_RE = re.compile(
    # Not at "I", "I'll", "I'm": the commonest capitalised words in English chat, never names.
    rf"(?=[A-ZÀ-ÖØ-Þ])(?!I(?:['’][a-z]{{1,2}})?(?![\w'’]))(?<![\w'’@.\-/]){_CAP}"
    rf"(?:(?:\.?[ ]|[ ](?:de|da|do|dos|del|van|von|der|du|la|of)[ ]){_CAP})*+"
)
_MAX_STRETCH_WORDS = 16
_MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,38}[A-Za-z0-9_])?)")
_ACRONYM_RE = re.compile(r"[A-Z]{2,6}")
_BEFORE_RE = re.compile(r"([^\W\d_]+)[^\w.!?\n]*+(?:([^\W\d_]+)[^\w.!?\n]*+)?$")
_PARTICLES = frozenset({"de", "da", "do", "dos", "del", "van", "von", "der", "du", "la"})
_OF_HEADS = frozenset({"University", "College", "Institute", "Bank", "Museum", "Universidad"})
_MAX_WORDS = 5
_MAX_PERSON_WORDS = 3

# (kind, title, key, offset) of one mention.
Entity = tuple[CardKind, str, str, int]


def find_entities(masked: str, low: str, starts: frozenset[int]) -> list[Entity]:
    """Entities in reading order; ``starts`` are the offsets where sentences begin."""
    found: list[Entity] = []
    if "@" in masked:
        for match in _MENTION_RE.finditer(masked):
            handle = "@" + match.group(1)
            found.append((CardKind.PERSON, handle, handle.casefold(), match.start()))
    for stretch in _STRETCH_RE.finditer(masked):
        words = stretch.group()
        if words in g.STOP_CAPS or words.count(" ") >= _MAX_STRETCH_WORDS:
            continue
        if stretch.start() in starts and " " not in words and not _known_alone(words):
            continue  # "Meet", "Remember": capitalised because they open the sentence
        _read_stretch(found, masked, low, starts, stretch.start(), stretch.end())
    if len(found) > 1 and found[0][3] > found[1][3]:
        found.sort(key=lambda e: e[3])
    return found


def _known_alone(word: str) -> bool:
    """Whether one word opening a sentence can be an entity by itself (what _classify knows)."""
    lower = word.lower()
    return (
        lower in g.PLACES
        or lower in g.KNOWN_ORGS
        or lower in g.FIRST_NAMES
        or bool(_ACRONYM_RE.fullmatch(word))
        or word in g.PERSON_TITLES
    )


def _read_stretch(
    found: list[Entity], masked: str, low: str, starts: frozenset[int], begin: int, end: int
) -> None:
    """Cut one stretch of capitalised words into runs and classify each."""
    run: list[tuple[str, int, int]] = []
    title: tuple[str, int] | None = None
    for match in _CAP_RE.finditer(masked, begin, end):
        word = (match.group(), match.start(), match.end())
        if run and _continues(masked, run[-1], word):
            run.append(word)
            continue
        if run:
            _emit(found, masked, low, run, title, starts)
            run, title = [], None
        if word[0] in g.PERSON_TITLES and _titles(masked, word):
            title = (word[0], word[1])
        elif word[0] not in g.STOP_CAPS:
            run = [word]
        elif title is not None:
            title = None
    if run:
        _emit(found, masked, low, run, title, starts)


def _titles(masked: str, word: tuple[str, int, int]) -> bool:
    return (
        masked.startswith((". ", " "), word[2])
        and masked[word[2] + 1 : word[2] + 3].strip()[:1].isupper()
    )


def _continues(masked: str, last: tuple[str, int, int], word: tuple[str, int, int]) -> bool:
    if word[0] in g.STOP_CAPS or (word[0] in g.PERSON_TITLES and _titles(masked, word)):
        return False
    gap = masked[last[2] : word[1]]
    if gap == " ":
        return True
    inner = gap.strip()
    return gap == f" {inner} " and (inner in _PARTICLES or (inner == "of" and last[0] in _OF_HEADS))


def _emit(
    found: list[Entity],
    masked: str,
    low: str,
    run: list[tuple[str, int, int]],
    title: tuple[str, int] | None,
    starts: frozenset[int],
) -> None:
    if len(run) > _MAX_WORDS:
        return
    if title is not None:
        names = " ".join(w[0] for w in run[:2])
        word = "Herr" if title[0] == "Herrn" else title[0]  # dative: "mit Herrn Müller"
        dot = "" if word in ("Herr", "Frau") else "."
        text = f"{word}{dot} {names}"
        found.append((CardKind.PERSON, text, _key(text), title[1]))
        return
    kind = _classify(masked, low, run, run[0][1] in starts)
    if kind is None and run[0][1] in starts and len(run) > 1:
        run = run[1:]
        kind = _classify(masked, low, run, False)
    if kind is None and len(run) > 1 and masked[run[0][2] : run[1][1]] != " ":
        run = run[1:]  # "Folien von Lufthansa": the particle joined a noun to a name
        kind = _classify(masked, low, run, False)
    if kind is not None:
        text = masked[run[0][1] : run[-1][2]]
        found.append((kind, text, _key(text), run[0][1]))


def _classify(
    masked: str, low: str, run: list[tuple[str, int, int]], opens: bool
) -> CardKind | None:
    words = [w[0] for w in run]
    name = masked[run[0][1] : run[-1][2]]
    lower = name.lower()
    if lower in g.PLACES:
        return CardKind.PLACE
    if len(words) > 1 and (words[-1] in g.ORG_SUFFIXES or " of " in name):
        return CardKind.ORGANISATION
    if len(words) > 1 and (words[-1] in g.PLACE_SUFFIXES or words[0] in g.PLACE_PREFIXES):
        return CardKind.PLACE
    if lower in g.KNOWN_ORGS:
        return CardKind.ORGANISATION
    if len(words) == 1 and _ACRONYM_RE.fullmatch(name) and name not in ACRONYM_STOP:
        return CardKind.ORGANISATION if name.lower() not in g.FIRST_NAMES else None
    if any(w.isupper() and len(w) > 1 for w in words) or len(words) > _MAX_PERSON_WORDS:
        return None
    if words[0].lower() in g.FIRST_NAMES:
        return CardKind.PERSON
    if opens:
        return None
    before = _BEFORE_RE.search(low, max(0, run[0][1] - 24), run[0][1])
    previous = before.group(2) or before.group(1) if before else ""
    if previous in ("a", "à", "an") and before is not None and before.group(2):
        previous = before.group(1)
    if previous in g.STRONG_TRIGGERS or (len(words) > 1 and previous in g.PERSON_TRIGGERS):
        return CardKind.PERSON
    if len(words) > 1 and previous in g.PLACE_PREPOSITIONS:
        return CardKind.PLACE
    return None


def _key(title: str) -> str:
    return " ".join(title.replace(".", " ").split()).casefold()


__all__ = ["IMPERATIVES", "Entity", "find_entities"]
