"""Which kind of statement a sentence is: question, decision, preference or action item.

A sentence gets at most one of these kinds, tried in that order: a question that says "should
we" is asked, not yet decided; a decision ("let's go with X") outranks the action it implies;
a preference ("I'd rather we meet") is not a commitment.
"""

from __future__ import annotations

import re

from cardwright.extractors.rules_text import WORD_RE
from cardwright.schema.cards import CardKind

# "ok?", "really?" and "what time?" are conversational noise, not open questions.
_MIN_QUESTION_WORDS = 3

_DECISION_RE = re.compile(
    r"\bdecision\s*:|\b(?:we(?:'ve|\s+have)?\s+decided|decided\s+to|final\s+decision"
    r"|(?:we'll|we\s+will|let's|let\s+us)\s+go\s+with|(?:we're|we\s+are)\s+going\s+with"
    r"|agreed\s+(?:to|on|that)|we(?:'ll|\s+will)\s+use)\b",
    re.IGNORECASE,
)
# "we haven't decided", "not agreed on": the opposite of a decision.
_UNDECIDED_RE = re.compile(
    r"(?:\bnot|n't|\bnever)\s+(?:yet\s+)?(?:decided|agreed)|\bundecided\b", re.IGNORECASE
)

_PREFERENCE_RE = re.compile(
    r"\b(?:i\s+(?:really\s+|much\s+|do\s+|would\s+)?(?:prefer|like|love|hate|dislike|enjoy|adore)"
    r"|i\s+(?:don't|do\s+not|really\s+don't)\s+(?:really\s+)?(?:like|enjoy|care\s+for)"
    r"|i'd\s+(?:much\s+)?rather|i\s+would\s+(?:much\s+)?rather|my\s+favou?rite"
    r"|i'm\s+(?:a\s+|a\s+big\s+|not\s+a\s+|not\s+a\s+big\s+)?fan\s+of)\b",
    re.IGNORECASE,
)

_ACTION_RE = re.compile(
    r"\b(?:i'll|i\s+will|(?:i|we|you)\s+need\s+to|remember\s+to|(?:don't|do\s+not|dont)\s+forget"
    r"|to-?do\s*:|action\s+item\s*:)\s*\w"
    r"|(?-i:\bTODO\b)"
    r"|\bplease\s+(?!let\s+me\s+know\b)[a-z]{2,}\b"
    r"|\b(?:let's|let\s+us)\s+(?!see\b|say\b|hope\b|not\b|just\s+say\b)[a-z]{2,}"
    r"|\b(?:i|we|you)\s+(?:really\s+|definitely\s+|still\s+)?(?:must|should)\s+"
    r"(?!be\b|have\s+been\b|not\s+have\b|have\s+\w+ed\b)[a-z]{2,}",
    re.IGNORECASE,
)


def classify(masked: str) -> CardKind | None:
    """The statement kind of one sentence (code and URLs blanked), or None."""
    text = masked.replace("’", "'").strip()
    if text.rstrip("\"'”)] ").endswith(("?", "？")):
        words = sum(1 for _ in WORD_RE.finditer(text))
        return CardKind.QUESTION if words >= _MIN_QUESTION_WORDS else None
    if _DECISION_RE.search(text) and not _UNDECIDED_RE.search(text):
        return CardKind.DECISION
    if _PREFERENCE_RE.search(text):
        return CardKind.PREFERENCE
    if _ACTION_RE.search(text):
        return CardKind.ACTION_ITEM
    return None
