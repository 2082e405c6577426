"""The rules extractor stays linear in a message's size, and its linear patterns find what the old
backtracking ones found.

Time is not asserted (figures are in bench/linearity.py and bench/results/linearity.json): each
adversarial 32 KiB message must merely finish under a hang guard many times its normal cost. The
old patterns are kept here as references; hypothesis checks the rewritten ones against them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.linearity import FAMILIES
from cardwright.extractors import rules_text
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import LiveMessage, TopicSnapshot

SIZE = 32 * 1024
# A hang guard, not a speed claim: one 32 KiB message takes well under a second when linear and
# took about ten (the dots) when the sentence splitter backtracked.
GUARD_S = 10

_OLD_BOUNDARY_RE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|\Z)|[。！？]+|\n")
_OLD_LAST_WORD_RE = re.compile(r"(\w+)\W*$")
_OLD_DOTTED_RE = re.compile(r"(?:\b\w\.)+\w$")
_OLD_BULLET_RE = re.compile(r"^(?:[-*•>#]+|\d{1,3}[.)])\s+")

# Characters the patterns care about, so short random texts hit their edge cases often.
_ALPHABET = st.sampled_from([*".!?…\"'”’)]([{}。！？\n\t  aZé1_-*•>#`@:/,;", "e.g", "Dr"])
_TEXTS = st.lists(_ALPHABET, max_size=40).map("".join)


def _old_is_abbreviation(masked: str, dot: int, end: int) -> bool:
    following = masked[end : end + 3].lstrip()
    if following[:1].islower() and _OLD_DOTTED_RE.search(masked, max(0, dot - 12), dot):
        return True
    word = _OLD_LAST_WORD_RE.search(masked, max(0, dot - 12), dot)
    if word is None:
        return False
    token = word.group(1)
    return (len(token) == 1 and token.isupper()) or token.lower() in rules_text._ABBREVIATIONS


def _old_trim_url(url: str) -> str:
    url = url.rstrip(rules_text._URL_TRAILING)
    for opener, closer in ("()", "[]", "{}"):
        while url.endswith(closer) and url.count(closer) > url.count(opener):
            url = url[:-1].rstrip(rules_text._URL_TRAILING)
    return url


def _extract(text: str) -> None:
    message = LiveMessage("m0", "user", datetime(2026, 3, 1, tzinfo=UTC), text)
    RulesExtractor().extract(TopicSnapshot("u1", "t1", "c1", 1, (message,)))


@given(_TEXTS)
def test_sentence_boundaries_are_those_of_the_backtracking_pattern(text: str) -> None:
    new = [(m.span(), m.group()) for m in rules_text._BOUNDARY_RE.finditer(text)]
    old = [(m.span(), m.group()) for m in _OLD_BOUNDARY_RE.finditer(text)]
    assert new == old


@given(_TEXTS)
def test_abbreviations_are_those_of_the_backtracking_patterns(text: str) -> None:
    for dot in (i for i, ch in enumerate(text) if ch == "."):
        new = rules_text._is_abbreviation(text, dot, dot + 1)
        assert new == _old_is_abbreviation(text, dot, dot + 1), dot


@given(_TEXTS)
def test_bullets_are_those_of_the_backtracking_pattern(text: str) -> None:
    new = rules_text._BULLET_RE.match(text)
    old = _OLD_BULLET_RE.match(text)
    assert (new and new.span()) == (old and old.span())


@given(st.lists(st.sampled_from(list("()[]{}.,;:!?'\"”’*_>a/")), max_size=30).map("".join))
def test_url_trimming_is_that_of_the_quadratic_loop(tail: str) -> None:
    url = "https://example.com/" + tail
    assert rules_text._trim_url(url) == _old_trim_url(url)


@pytest.mark.timeout(GUARD_S)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_adversarial_32_kib_message_is_extracted(family: str) -> None:
    text = FAMILIES[family](SIZE)
    assert len(text) == SIZE
    _extract(text)


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=st.lists(_ALPHABET, min_size=1, max_size=12).map("".join), tail=_ALPHABET)
def test_a_generated_repetitive_32_kib_message_is_extracted(unit: str, tail: str) -> None:
    """A short unit repeated to 32 KiB, then one character that may break the run's pattern."""
    text = (unit * (SIZE // len(unit) + 1))[: SIZE - len(tail)] + tail
    _extract(text)
