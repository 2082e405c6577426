"""Date and time expressions of one message, as descriptors that resolve to ISO against a day.

Finding depends on the text alone (so a message's findings can be remembered); resolving needs
the day the message was written, its ``created_at``, never the wall clock: "tomorrow" in a
message of 2026-03-04 is 2026-03-05 however late the topic is extracted.

Meanings, fixed so that every reader gets the same card:
- a weekday ("Friday", "next Friday", "el viernes", "vendredi prochain") is the first such day
  after the message's day; "last Friday" the latest before it;
- a month and day without a year ("June 14", "14. Juni") is the next one on or after the day;
- "the 14th" is the next 14th on or after the day; "next week" is an ISO week ("2026-W11");
  "June 2027" and "next month" are a month ("2027-06");
- a time next to a date joins it ("tomorrow at 3pm" is "2026-03-05 15:00"); a lone time is
  "15:00".
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta

from cardwright.extractors.rules2 import lexicon

# (kind, a, b, c): ("ymd", y, m, d), ("md", m, d, 0), ("ym", y, m, 0), ("day", n, 0, 0),
# ("wd", weekday, direction, 0), ("week", n, 0, 0), ("month+", n, 0, 0), ("weekend", n, 0, 0),
# ("dom", d, 0, 0), ("time", 0, 0, 0). The time of day is separate: -1 when none.
Descriptor = tuple[str, int, int, int]
# (start, end, descriptor, minutes after midnight or -1)
Atom = tuple[int, int, Descriptor, int]

# The lookahead first: Python's re then rejects a non-digit position at once instead of trying
# every alternative there (measured: 19 us against 41 us per loadgen text without it).
_DIGITS_RE = re.compile(
    r"(?=\d)(?<![\w.:/-])(?:"
    r"(?P<iy>\d{4})-(?P<im>0[1-9]|1[0-2])-(?P<id>0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?P<ih>[01]\d|2[0-3]):(?P<imin>[0-5]\d))?"
    # One number, then what makes it a date or a time: the number is read once, not once per
    # alternative (32 KiB of "14 14 14" went from 20 to 8 ms), its range checked afterwards.
    r"|(?P<n>[0-2]?\d|3[01])(?:"
    r"[./](?P<dm>0?[1-9]|1[0-2])[./](?P<dy>(?:19|20)\d\d)"
    r"|(?::(?P<m12>[0-5]\d))?\s?(?P<ap>[apAP])(?:[mM]|\.[mM]\.)"
    r"|:(?P<m24>[0-5]\d)|(?P<hh>h)(?P<mh>[0-5]\d)?|\s?(?P<uhr>[Uu]hr)"
    r"|(?P<od>st|nd|rd|th)"
    r"))(?![\w:])"
)
_ANY_DIGIT_RE = re.compile(r"\d")
# Where a date or time may start: a number followed by what _DIGITS_RE goes on with. Without
# groups it runs fast over plain numbers; _DIGITS_RE (twelve groups, slow to fail) then only
# reads these (32 KiB of "14 14 14": 23 ms with _DIGITS_RE alone).
_CANDIDATE_RE = re.compile(
    r"(?=\d)(?<![\w.:/-])\d{1,4}+(?=[-./:hH]|\s?[aApPuU]|st|nd|rd|th|\.?[mM]|\.\d)"
)
# A message naming more dates than this is a list or junk; reading the rest would only cost time.
MAX_ATOMS = 256
# Before a month name: "14 ", "14th of ", "14. ", "14 de ", "1er ". Searched in a short window.
_DAY_BEFORE_RE = re.compile(
    r"(?<!\d)(?P<d>0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th|er|º|\.)?\s(?:of\s|de\s)?$"
)
_DAY_AFTER_RE = re.compile(r"\.?\s(?P<d>0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?![\d:])")
_YEAR_AFTER_RE = re.compile(r",?\s(?:de\s)?(?P<y>(?:19|20)\d\d)(?!\d)")
_WINDOW = 12
# What may sit between a date and its time, and between a time and its date.
_DATE_TIME_GAP = frozenset({"", ",", "at", "um", "à", "a las", "a la", "alle", "@", "around"})
_TIME_DATE_GAP = frozenset({"", ",", "on", "am", "el", "le", "this", "next"})
# English month names that are also words: only capitalised, or with a day or year anyway.
_AMBIGUOUS_MONTHS = frozenset({"may", "march", "mar", "jan"})
# "la mañana" is the morning, "Guten Morgen" a greeting, not tomorrow.
_NOT_TOMORROW_BEFORE = ("la ", "esta ", "guten ", "am ", "jeden ", "den ")


def find_dates(masked: str, low: str, hits: list[lexicon.Hit]) -> list[Atom]:
    """Date atoms of one text in reading order, overlaps resolved to the longest, times joined."""
    atoms: list[Atom] = []
    if _ANY_DIGIT_RE.search(masked):
        atoms.extend(_digit_atoms(masked, low))
    previous: lexicon.Hit | None = None
    for hit in hits:
        if hit[2] in _DATE_FAMILIES and len(atoms) < 2 * MAX_ATOMS:
            atom = _word_atom(masked, low, hit, previous)
            if atom is not None:
                atoms.append(atom)
        previous = hit
    if not atoms:
        return atoms
    atoms.sort(key=lambda a: (a[0], -a[1]))
    kept: list[Atom] = []
    for atom in atoms:
        if kept and atom[0] < kept[-1][1]:
            continue
        if kept and _joins(kept[-1], atom, low):
            kept[-1] = _join(kept[-1], atom)
        else:
            kept.append(atom)
    return kept


def _digit_atoms(masked: str, low: str) -> list[Atom]:
    atoms: list[Atom] = []
    for candidate in _CANDIDATE_RE.finditer(masked):
        m = _DIGITS_RE.match(masked, candidate.start())
        if m is None:
            continue
        if len(atoms) >= MAX_ATOMS:
            break
        start, end = m.span()
        if m["iy"]:
            minutes = int(m["ih"]) * 60 + int(m["imin"]) if m["ih"] else -1
            atoms.append((start, end, ("ymd", int(m["iy"]), int(m["im"]), int(m["id"])), minutes))
            continue
        number = int(m["n"])
        if m["dm"]:
            if 1 <= number <= 31:
                descriptor = ("ymd", int(m["dy"]), int(m["dm"]), number)
                atoms.append((start, end, descriptor, -1))
        elif m["ap"]:
            if 1 <= number <= 12:
                hour = number % 12 + (12 if m["ap"] in "pP" else 0)
                atoms.append((start, end, ("time", 0, 0, 0), hour * 60 + int(m["m12"] or 0)))
        elif m["m24"] or m["hh"] or m["uhr"]:
            if number <= 23:
                minute = int(m["m24"] or m["mh"] or 0)
                atoms.append((start, end, ("time", 0, 0, 0), number * 60 + minute))
        elif 1 <= number <= 31 and low.endswith("the ", 0, start):
            atoms.append((start - 4, end, ("dom", number, 0, 0), -1))
    return atoms


def _word_atom(
    masked: str, low: str, hit: lexicon.Hit, previous: lexicon.Hit | None
) -> Atom | None:
    start, end, family, value = hit
    if family == lexicon.MONTH:
        return _month_atom(masked, low, start, end, value)
    if family == lexicon.WEEKDAY:
        if low.endswith("los ", 0, start):
            return None  # "los lunes" is every Monday (plurals elsewhere end in -s: no match)
        direction = 1
        if previous is not None and previous[1] + 1 == start and low[previous[1]] == " ":
            if previous[2] == lexicon.LAST:
                direction = -1
            if previous[2] in (lexicon.LAST, lexicon.NEXT):
                start = previous[0]
        follow = low[end : end + 10]
        if follow.startswith((" prochain", " próximo")):
            end = end + len(follow.split(" ")[1]) + 1
        elif follow.startswith((" dernier", " pasado")):
            end, direction = end + len(follow.split(" ")[1]) + 1, -1
        return (start, end, ("wd", value, direction, 0), -1)
    if family == lexicon.DAY_OFFSET:
        if low.endswith(_NOT_TOMORROW_BEFORE, 0, start) and low[start] in "mM":
            return None
        return (start, end, ("day", value, 0, 0), -1)
    if family in (lexicon.WEEK_OFFSET, lexicon.MONTH_OFFSET, lexicon.WEEKEND):
        kind = {lexicon.WEEK_OFFSET: "week", lexicon.MONTH_OFFSET: "month+"}.get(family, family)
        return (start, end, (kind, value, 0, 0), -1)
    return None


def _month_atom(masked: str, low: str, start: int, end: int, month: int) -> Atom | None:
    if low[start:end] in _AMBIGUOUS_MONTHS and not masked[start].isupper():
        return None
    day = year = 0
    before = _DAY_BEFORE_RE.search(masked[max(0, start - _WINDOW) : start])
    if before is not None:
        day = int(before["d"])
        start -= len(before.group())
    else:
        after = _DAY_AFTER_RE.match(masked, end)
        if after is not None:
            day, end = int(after["d"]), after.end()
    year_match = _YEAR_AFTER_RE.match(masked, end)
    if year_match is not None:
        year, end = int(year_match["y"]), year_match.end()
    if day and year:
        return (start, end, ("ymd", year, month, day), -1)
    if day:
        return (start, end, ("md", month, day, 0), -1)
    if year:
        return (start, end, ("ym", year, month, 0), -1)
    return None


def _joins(first: Atom, second: Atom, low: str) -> bool:
    if (first[2][0] == "time") == (second[2][0] == "time"):
        return False
    gap = " ".join(low[first[1] : second[0]].replace(",", " , ").split())
    if first[2][0] == "time":
        return second[3] < 0 and gap in _TIME_DATE_GAP and second[2][0] not in _NO_TIME
    return first[3] < 0 and gap in _DATE_TIME_GAP and first[2][0] not in _NO_TIME


_NO_TIME = frozenset({"week", "month+", "ym"})
_DATE_FAMILIES = frozenset(
    {
        lexicon.MONTH,
        lexicon.WEEKDAY,
        lexicon.DAY_OFFSET,
        lexicon.WEEK_OFFSET,
        lexicon.MONTH_OFFSET,
        lexicon.WEEKEND,
    }
)


def _join(first: Atom, second: Atom) -> Atom:
    day, time = (second, first) if first[2][0] == "time" else (first, second)
    return (first[0], second[1], day[2], time[3])


# Pure, and the same few (descriptor, day) pairs come back each time a topic is extracted again.
@functools.lru_cache(maxsize=8192)
def resolve(descriptor: Descriptor, minutes: int, today: date) -> str | None:
    """The ISO form of a descriptor on ``today`` (the message's day), or None if impossible."""
    kind, a, b, c = descriptor
    clock = f"{minutes // 60:02d}:{minutes % 60:02d}" if minutes >= 0 else ""
    day: date | None
    try:
        if kind == "time":
            return clock
        if kind == "ymd":
            day = date(a, b, c)
        elif kind == "md":
            day = date(today.year, a, b)
            if day < today:
                day = date(today.year + 1, a, b)
        elif kind == "ym":
            return f"{a:04d}-{b:02d}"
        elif kind == "day":
            day = today + timedelta(days=a)
        elif kind == "wd":
            if b > 0:
                day = today + timedelta(days=(a - today.weekday()) % 7 or 7)
            else:
                day = today - timedelta(days=(today.weekday() - a) % 7 or 7)
        elif kind == "week":
            year, week, _ = (today + timedelta(weeks=a)).isocalendar()
            return f"{year:04d}-W{week:02d}"
        elif kind == "month+":
            index = today.year * 12 + today.month - 1 + a
            return f"{index // 12:04d}-{index % 12 + 1:02d}"
        elif kind == "weekend":
            day = today + timedelta(days=5 - today.weekday(), weeks=a)
        elif kind == "dom":
            day = date(today.year, today.month, a)
            if day < today:
                month = today.year * 12 + today.month
                day = date(month // 12, month % 12 + 1, a)
        else:
            return None
    except ValueError:  # February 30th, a year out of range
        return None
    return f"{day.isoformat()} {clock}" if clock else day.isoformat()
