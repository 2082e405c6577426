"""Which kind of statement a sentence is: question, decision, preference or action item.

Tried in that order, at most one kind per sentence, as in rules@1: a question that says "should
we" is asked, not decided; a decision outranks the action it implies; a preference is not a
commitment. The phrases come from the lexicon's one automaton pass over the whole message, so a
sentence is only asked which hits fall inside it. New in rules@2: decisions phrased "we chose",
"we'll ship", "Lisbon it is"; imperatives that open a sentence ("Call mom", "Email Prof. Kim",
"Send it"); Spanish, German and French phrasings; small talk ("How are you?") is no question;
negated triggers ("we don't need to", "haven't decided") are no statement; quoted lines
("> ...") are someone else's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cardwright.extractors.rules2 import lexicon
from cardwright.extractors.rules2.text import Span
from cardwright.schema.cards import CardKind

_MIN_QUESTION_WORDS = 3
_MAX_SMALLTALK_WORDS = 7
# A negation this close before a trigger turns it round ("we don't need to", "not decided").
_NEGATION_REACH = 10
_CLAUSE_END = frozenset(",;:")
_CLOSERS = frozenset("\"'”’)] ")
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_IT_IS_RE = re.compile(r"\bit\s+is(?:\s+then)?[\s.!]*$")

# Verbs that make a sentence an instruction when they open it.
IMPERATIVES = frozenset(
    [
        "run",
        "call",
        "email",
        "e-mail",
        "send",
        "book",
        "buy",
        "pay",
        "ask",
        "tell",
        "text",
        "ping",
        "remind",
        "check",
        "review",
        "fix",
        "update",
        "schedule",
        "cancel",
        "renew",
        "bring",
        "print",
        "sign",
        "submit",
        "order",
        "reserve",
        "confirm",
        "invite",
        "write",
        "finish",
        "prepare",
        "clean",
        "water",
        "feed",
        "pick",
        "grab",
        "file",
        "return",
        "reply",
        "post",
        "share",
        "upload",
        "install",
        "deploy",
        "llama",
        "llamad",
        "envía",
        "envia",
        "manda",
        "compra",
        "paga",
        "reserva",
        "pregunta",
        "revisa",
        "confirma",
        "escribe",
        "recoge",
        "trae",
        "ruf",
        "schick",
        "schicke",
        "sende",
        "kauf",
        "kaufe",
        "bezahl",
        "buche",
        "frag",
        "prüf",
        "prüfe",
        "bestätige",
        "schreib",
        "bring",
        "hol",
        "appelle",
        "envoie",
        "achète",
        "paie",
        "réserve",
        "demande",
        "vérifie",
        "confirme",
        "écris",
        "apporte",
    ]
)
# "let's see", "please let me know", "you should be fine": softer than a task.
_NOT_AFTER = {
    "let's": ("see", "say", "hope", "not", "just"),
    "please": ("let me know",),
    "should": ("be ", "have ", "not ", "i ", "we "),
    "must": ("be ", "have ", "not "),
}


def classify(
    masked: str, low: str, spans: list[Span], hits: list[lexicon.Hit]
) -> list[tuple[int, CardKind]]:
    """(index into ``spans``, kind) of every sentence that is a statement."""
    found: list[tuple[int, CardKind]] = []
    # Hits and spans are both in text order: one walk hands each sentence its own hits.
    next_hit, count = 0, len(hits)
    for index, (start, end, quoted) in enumerate(spans):
        families: dict[str, list[lexicon.Hit]] = {}
        while next_hit < count and hits[next_hit][0] < start:
            next_hit += 1
        while next_hit < count and hits[next_hit][0] < end:
            hit = hits[next_hit]
            if hit[1] <= end and hit[2] in _STATEMENT_FAMILIES:
                families.setdefault(hit[2], []).append(hit)
            next_hit += 1
        if quoted:
            continue
        kind = _kind(masked, low, start, end, families)
        if kind is not None:
            found.append((index, kind))
    return found


_STATEMENT_FAMILIES = frozenset(
    {lexicon.DECISION, lexicon.PREFERENCE, lexicon.ACTION, lexicon.NEGATION, lexicon.SMALLTALK}
)


def _kind(
    masked: str, low: str, start: int, end: int, hits: dict[str, list[lexicon.Hit]]
) -> CardKind | None:
    last = end - 1
    while last > start and low[last] in _CLOSERS:
        last -= 1
    if low[last] in "?？":
        words = len(_WORD_RE.findall(masked, start, end))
        if words < _MIN_QUESTION_WORDS:
            return None
        if lexicon.SMALLTALK in hits and words <= _MAX_SMALLTALK_WORDS:
            return None
        return CardKind.QUESTION
    negations = hits.get(lexicon.NEGATION, [])
    decisions = hits.get(lexicon.DECISION, [])
    if any(
        not _negated(low, hit, negations) and not _quoted(low, start, hit) for hit in decisions
    ) or (
        low.endswith(("is", "is.", "is!", "then", "then.", "then!"), start, end)
        and _IT_IS_RE.search(low, start, end)
    ):
        return CardKind.DECISION
    if lexicon.PREFERENCE in hits:
        return CardKind.PREFERENCE
    actions = hits.get(lexicon.ACTION, [])
    if any(_is_action(masked, low, hit, negations) for hit in actions):
        return CardKind.ACTION_ITEM
    first = _WORD_RE.match(low, start, end)
    if first is not None and first.group() in IMPERATIVES and first.end() < end - 1:
        return CardKind.ACTION_ITEM
    return None


def _quoted(low: str, start: int, hit: lexicon.Hit) -> bool:
    """Inside double quotes: reported speech ("he said \"we decided\""), not a decision."""
    before = low[start : hit[0]]
    return (before.count('"') + before.count("“")) % 2 == 1


def _negated(low: str, hit: lexicon.Hit, negations: Sequence[lexicon.Hit]) -> bool:
    """A negation shortly before the trigger, in the same clause ("No, we decided" is not)."""
    return any(
        hit[0] - _NEGATION_REACH <= neg[1] <= hit[0] and not _CLAUSE_END & set(low[neg[1] : hit[0]])
        for neg in negations
    )


def _is_action(masked: str, low: str, hit: lexicon.Hit, negations: Sequence[lexicon.Hit]) -> bool:
    start, end = hit[0], hit[1]
    phrase = low[start:end]
    if phrase == "todo" and masked[start:end] != "TODO" and low[end : end + 1] != ":":
        return False  # "todo" is Spanish for "all"
    after = low[end + 1 : end + 14]
    if phrase in _NOT_AFTER and after.startswith(_NOT_AFTER[phrase]):
        return False
    if "forget" in phrase or "olvides" in phrase or "vergiss" in phrase or "oublie" in phrase:
        return True
    return not _negated(low, hit, [n for n in negations if n[0] != start])
