"""Sentences of one masked message, as spans: one pass for the boundaries, no per-word work.

Code and URLs are blanked by rules@1's own helpers first (the same masking, so both versions
agree on what is code). A sentence ends at terminal punctuation followed by space or the end, at
CJK terminal punctuation and at every line break. A dot after a title or an initial ("Dr.",
"Sra.", "J.") or inside "e.g." does not end one. Lines quoted from an earlier message ("> ...")
are marked, so their statements are not taken as the writer's own.
"""

from __future__ import annotations

import re

# Same shape as rules@1's boundary (possessive runs, linear on runs of dots): see rules_text.
_BOUNDARY_RE = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s|\Z)|[。！？]+|\n")
_LAST_WORD_RE = re.compile(r"(?<!\w)(\w++)\W*+$")
_DOTTED_RE = re.compile(r"\b\w\.\w$")
_WINDOW = 12
ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "mx",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "sra",
        "srta",
        "dra",
        "vs",
        "approx",
        "dept",
        "fig",
        "mt",
        "mme",
        "mlle",
        "nr",
        "bzw",
        "ca",
        "z.b",
        "etc",
        "usw",
    ]
)
_LEAD_RE = re.compile(r"[\s\-*•#]*+(?:\d{1,3}[.)]\s++)?")
_QUOTE_RE = re.compile(r"[ \t]*+>")

# (start, end, quoted) of one sentence in the masked text.
Span = tuple[int, int, bool]


def sentences(masked: str) -> list[Span]:
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(masked):
        end = match.end()
        if match.group() == "." and _is_abbreviation(masked, match.start(), end):
            continue
        _add(masked, start, end, spans)
        start = end
    _add(masked, start, len(masked), spans)
    return spans


def _add(masked: str, start: int, end: int, spans: list[Span]) -> None:
    quote = _QUOTE_RE.match(masked, start)
    quoted = quote is not None and (start == 0 or masked[start - 1] == "\n")
    if quote is not None and quoted:
        start = quote.end()
    lead = _LEAD_RE.match(masked, start, end)
    begin = lead.end() if lead is not None else start
    while end > begin and masked[end - 1].isspace():
        end -= 1
    if end > begin and any(ch.isalpha() for ch in masked[begin:end]):
        spans.append((begin, end, quoted))


def _is_abbreviation(masked: str, dot: int, end: int) -> bool:
    following = masked[end : end + 3].lstrip()
    before = masked[max(0, dot - _WINDOW) : dot]
    if following[:1].islower() and _DOTTED_RE.search(before):
        return True
    word = _LAST_WORD_RE.search(before)
    if word is None:
        return False
    token = word.group(1)
    return (len(token) == 1 and token.isupper()) or token.lower() in ABBREVIATIONS
