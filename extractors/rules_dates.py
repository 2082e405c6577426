"""Date and time expressions in one sentence, each with a key that merges ways of writing it.

"March 4th", "4 March" and "Mar 4" share the key ``--03-04``; "3pm", "at 3 p.m." and "15:00"
share ``15:00``. The title stays the expression as written (first seen), the key only merges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?P<day>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>(?:19|20)\d\d))?"
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"

# Month and weekday names must be capitalised: "may", "march" and "sun" are ordinary words.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "iso",
        re.compile(r"(?<![\d-])(?P<y>\d{4})-(?P<m>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"),
    ),
    ("md", re.compile(rf"\b{_MONTH}\s+{_DAY}\b{_YEAR}")),
    ("dm", re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?![a-z]){_YEAR}")),
    ("weekday", re.compile(rf"\b(?:(?i:next|this|last|coming)\s+)?{_WEEKDAY}s?\b")),
    ("relative", re.compile(r"(?i)\b(?:today|tonight|tomorrow|day after tomorrow)\b")),
    (
        "clock12",
        re.compile(
            r"(?i)\b(?P<h>1[0-2]|0?[1-9])(?::(?P<min>[0-5]\d))?\s?(?P<ap>[ap])(?:m\b|\.m\.)"
        ),
    ),
    ("clock24", re.compile(r"(?<![\d:.])(?P<h>[01]?\d|2[0-3]):(?P<min>[0-5]\d)(?![\d:])")),
)


@dataclass(frozen=True, slots=True)
class DateMention:
    title: str
    key: str
    offset: int


def find_dates(masked: str) -> Iterator[DateMention]:
    """Yield date and time expressions in reading order; overlapping matches keep the longest."""
    found: list[tuple[int, int, str, re.Match[str]]] = []
    for name, pattern in _PATTERNS:
        found.extend((m.start(), -m.end(), name, m) for m in pattern.finditer(masked))
    found.sort(key=lambda item: (item[0], item[1]))
    taken_until = -1
    for start, neg_end, name, match in found:
        if start < taken_until:
            continue
        taken_until = -neg_end
        title = match.group().rstrip(",")
        yield DateMention(title=title, key=_key(name, match), offset=start)


def _key(name: str, match: re.Match[str]) -> str:
    if name == "iso":
        return f"{match['y']}-{match['m']}-{match['d']}"
    if name in ("md", "dm"):
        month = _MONTHS[match["month"][:3].lower()]
        year = match["year"] or ""
        return f"{year}-{month:02d}-{int(match['day']):02d}"
    if name == "clock12":
        hour = int(match["h"]) % 12 + (12 if match["ap"].lower() == "p" else 0)
        return f"{hour:02d}:{match['min'] or '00'}"
    if name == "clock24":
        return f"{int(match['h']):02d}:{match['min']}"
    # Weekdays and relative days: case and spacing do not change what they mean.
    return " ".join(match.group().casefold().split()).removesuffix("s")
