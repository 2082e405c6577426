"""Text plumbing for the rules extractor: masking, URLs, sentences and word tokens.

Code and URLs are masked (replaced by spaces of the same length) before anything else looks at a
message, so offsets into the masked text are offsets into the original and a stack trace or a
URL path never turns into a person, a date or an action item.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

# Fenced blocks may be left open at the end of a message; inline code stays on one line.
_CODE_RE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]{1,500}`", re.DOTALL)
_URL_RE = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\"”’*_>"

# A sentence ends at terminal punctuation followed by space (or the end), at CJK terminal
# punctuation (no space follows it), and at every line break: chat text uses lines as sentences.
# Linear on purpose: with plain ``[.!?…]+[...]*(?=...)`` a run of dots before a letter was tried
# from each of its dots and given back one dot at a time, quadratic in the run (32 KiB of dots
# took seconds). A match may only start where a run starts (the lookbehind) and neither run is
# given back (possessive ``++``, ``*+``); giving back could never have led to a match anyway,
# since the character after a shorter run is another dot or closer, not space.
_BOUNDARY_RE = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s|\Z)|[。！？]+|\n")
# Both look at a few characters before a dot only, and stay linear on any input anyway: a match
# starts only where a word starts (the lookbehind) and never gives a run back (possessive).
_LAST_WORD_RE = re.compile(r"(?<!\w)(\w++)\W*+$")
# "e.g.", "p.m.", "U.S.": letters joined by dots before the final one. The last link ("g" in
# "e.g") is enough to tell, and a fixed-length pattern cannot backtrack over a long chain.
_DOTTED_RE = re.compile(r"\b\w\.\w$")
# How far before a dot an abbreviation is looked for.
_ABBREVIATION_WINDOW = 12
# A dot after these is almost never the end of a sentence ("Dr. Smith", "e.g. this").
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "mx", "dr", "prof", "st", "jr", "sr", "vs", "approx", "dept", "fig", "mt"}
)
_BULLET_RE = re.compile(r"^(?:[-*•>#]++|\d{1,3}[.)])\s+")
_SPACE_RE = re.compile(r"\s+")

WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a message: the original text, the masked text, and where it starts."""

    text: str
    masked: str
    offset: int


def mask_code(text: str) -> str:
    return _CODE_RE.sub(_blank, text)


def find_urls(masked: str) -> Iterator[tuple[str, int]]:
    """Yield (url, offset) for each http(s) URL, without the punctuation that ends a sentence."""
    for match in _URL_RE.finditer(masked):
        url = _trim_url(match.group())
        if len(url) > len("https://"):
            yield url, match.start()


def mask_urls(masked: str) -> str:
    return _URL_RE.sub(_blank, masked)


def url_key(url: str) -> str:
    """Scheme and host are case-insensitive; the rest of a URL is not."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}"


def url_domain(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # malformed IPv6 literal and the like: still a link, just no domain
        host = None
    return host or ""


def split_sentences(text: str, masked: str) -> Iterator[Sentence]:
    """Split on ``masked`` (code and URLs blanked) and yield the matching original slices."""
    start = 0
    for match in _BOUNDARY_RE.finditer(masked):
        end = match.end()
        if match.group() == "." and _is_abbreviation(masked, match.start(), end):
            continue
        yield from _sentence(text, masked, start, end)
        start = end
    yield from _sentence(text, masked, start, len(masked))


def normalise(text: str) -> str:
    """Collapse whitespace, drop list bullets; what a card title shows."""
    return _BULLET_RE.sub("", _SPACE_RE.sub(" ", text).strip())


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _sentence(text: str, masked: str, start: int, end: int) -> Iterator[Sentence]:
    chunk = masked[start:end]
    stripped = chunk.lstrip()
    if not stripped.strip():
        return
    lead = len(chunk) - len(stripped)
    bullet = _BULLET_RE.match(stripped)
    if bullet:
        lead += bullet.end()
    begin, finish = start + lead, start + len(chunk.rstrip())
    if begin < finish and WORD_RE.search(masked, begin, finish):
        yield Sentence(text=text[begin:finish], masked=masked[begin:finish], offset=begin)


def _is_abbreviation(masked: str, dot: int, end: int) -> bool:
    following = masked[end : end + 3].lstrip()
    # A slice, not search(pos=...): a word cut by the window's edge counts from the edge.
    before = masked[max(0, dot - _ABBREVIATION_WINDOW) : dot]
    if following[:1].islower() and _DOTTED_RE.search(before):
        return True  # "3 p.m. tomorrow", "e.g. apples": the sentence goes on
    word = _LAST_WORD_RE.search(before)
    if word is None:
        return False
    token = word.group(1)
    # Single capital initials ("J. Smith") and known abbreviations do not end a sentence.
    return (len(token) == 1 and token.isupper()) or token.lower() in _ABBREVIATIONS


def _trim_url(url: str) -> str:
    end = len(url.rstrip(_URL_TRAILING))
    # Keep a closing bracket only when the URL opened it (Wikipedia-style paths). Counted once
    # per bracket and trimmed by index: a URL ending in thousands of ")" stays linear.
    for opener, closer in ("()", "[]", "{}"):
        excess = url.count(closer, 0, end) - url.count(opener, 0, end)
        while excess > 0 and url[end - 1] == closer:
            end -= 1
            excess -= 1
            while end and url[end - 1] in _URL_TRAILING:
                end -= 1
    return url[:end]


def _blank(match: re.Match[str]) -> str:
    # Keep line breaks so masked code still ends the sentence it sits in.
    return "".join("\n" if ch == "\n" else " " for ch in match.group())
