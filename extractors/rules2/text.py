"""Masking and sentences of one message for rules@2: a few single passes, little per-match work.

Code and URLs are masked (blanked to spaces of the same length, line breaks kept) with the same
patterns as rules@1, so both versions agree on what is code; the blanking itself is cheaper (one
multiplication per match, not a generator per character) and a URL's closing brackets are
trimmed in one step, so 32 KiB of backticks or of ")" after a URL stay within a few milliseconds.

A sentence ends at terminal punctuation followed by space or the end, at CJK terminal
punctuation and at every line break; the whitespace after a boundary belongs to the boundary, so
a run of blank lines is one match, not thousands. A dot after a title or an initial ("Dr.",
"Sra.", "J.") or inside "e.g." does not end one. Lines quoted from an earlier message ("> ...")
are marked, so their statements are not taken as the writer's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_CODE_RE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]{1,500}`", re.DOTALL)
_URL_RE = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\"”’*_>"
_NOT_NEWLINE_RE = re.compile(r"[^\n]+")
_LETTER_RE = re.compile(r"[^\W\d_]")
# Quote marker (group 1), then bullets and list numbers.
_LEAD_RE = re.compile(r"([ \t]*+>)?[\s\-*•#>]*+(?:\d{1,3}[.)]\s++)?")
ABBREVIATIONS = (
    "mr mrs ms mx dr prof st jr sr sra srta dra vs approx dept fig mt mme mlle nr bzw ca etc usw"
)
# A dot that does not end a sentence: after a title or abbreviation ("Dr.", "approx."), after a
# capital initial ("J."), or closing letters joined by dots when the sentence goes on in lower
# case ("e.g. apples", "3 p.m. tomorrow").
# The dot comes first, so the scan jumps from dot to dot; what precedes it is checked by one
# fixed-width lookbehind per word length.
_BY_LENGTH: dict[int, list[str]] = {}
for _word in ABBREVIATIONS.split():
    _BY_LENGTH.setdefault(len(_word), []).append(_word)
# Only a dot that could end a sentence (space or the end after it, a letter before it) is
# looked at further: 32 KiB of dots or of "a.a.a." is then one cheap check per dot.
_ABBREVIATION_RE = re.compile(
    r"\.(?=\s|\Z)(?<=[^\W\d_]\.)(?:(?<=(?<!\w)[A-ZÀ-ÖØ-Þ]\.)"
    + "".join(rf"|(?<=(?<!\w)(?i:{'|'.join(words)})\.)" for words in _BY_LENGTH.values())
    + r"|(?<=(?<!\w)\w\.\w\.)(?=[ \t\n]{0,2}[a-zß-ÿ]))"
)

# As rules@1's boundary (possessive runs: linear on runs of dots), plus the whitespace after it;
# an abbreviation's dot is ruled out inside the pattern (a Python check per dot made 32 KiB of
# "Dr. " take 40 ms).
_BOUNDARY_RE = re.compile(
    r"(?=[.!?…。！？\n])((?<![.!?…])(?!"
    + _ABBREVIATION_RE.pattern
    + r")[.!?…]++[\"'”’)\]]*+(?=\s|\Z)|[。！？]++|\n)\s*+"
)

# (start, end, quoted) of one sentence in the masked text.
Span = tuple[int, int, bool]


def mask_code(text: str) -> str:
    return _CODE_RE.sub(_blank, text)


def find_urls(masked: str) -> Iterator[tuple[str, int]]:
    for match in _URL_RE.finditer(masked):
        url = _trim_url(match.group())
        if len(url) > len("https://"):
            yield url, match.start()


def mask_urls(masked: str) -> str:
    return _URL_RE.sub(_blank, masked)


def sentences(masked: str) -> list[Span]:
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(masked):
        _add(masked, start, match.start(1) + len(match.group(1)), spans)
        start = match.end()
    _add(masked, start, len(masked), spans)
    return spans


def _add(masked: str, start: int, end: int, spans: list[Span]) -> None:
    lead = _LEAD_RE.match(masked, start, end)
    begin = lead.end() if lead is not None else start
    # A quote marker counts only where a line starts, not after a sentence ending mid-line.
    quoted = lead is not None and lead.group(1) is not None
    quoted = quoted and (start == 0 or masked[start - 1] == "\n")
    while end > begin and masked[end - 1].isspace():
        end -= 1
    if end > begin and _LETTER_RE.search(masked, begin, end):
        spans.append((begin, end, quoted))


def _trim_url(url: str) -> str:
    """Drop sentence punctuation after a URL, and closing brackets the URL did not open."""
    url = url.rstrip(_URL_TRAILING)
    for opener, closer in ("()", "[]", "{}"):
        excess = url.count(closer) - url.count(opener)
        if excess > 0 and url.endswith(closer):
            kept = url.rstrip(closer + _URL_TRAILING)
            tail = url[len(kept) :]
            # Remove at most ``excess`` closers from the tail, with the punctuation after them.
            cut = len(tail.rsplit(closer, excess)[0])
            url = (kept + tail[:cut]).rstrip(_URL_TRAILING)
    return url


def _blank(match: re.Match[str]) -> str:
    found = match.group()
    if "\n" not in found:
        return " " * len(found)
    return _NOT_NEWLINE_RE.sub(lambda m: " " * len(m.group()), found)
