"""rules@2 is deterministic and stays linear: hypothesis for the first, a hang guard for the
second (time is measured in bench/extractor_quality.py, not asserted here)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.linearity import FAMILIES
from cardwright.extractors.rules import RulesExtractor
from cardwright.extractors.rules2.extractor import read_text
from cardwright.schema.cards import LiveMessage, TopicSnapshot

SIZE = 32 * 1024
GUARD_S = 10

_PIECES = st.sampled_from(
    [*".!?…\"'”’)]([{}。！？\n\t  aZé1_-*•>#`@:/,;", "Dr", "Prof. ", "the 14th", "tomorrow",
     "June 2027", "mañana", "Call ", "Alice Smith", "we decided", "http://x.io/a", " at 3pm",
     "nächste Woche", "it is", "I'll", "Hotel ", "von ", "de "]
)  # fmt: skip
_TEXTS = st.lists(_PIECES, max_size=40).map("".join)


def _snapshot(*texts: str) -> TopicSnapshot:
    messages = tuple(
        LiveMessage(f"m{i}", "user", datetime(2026, 3, 4, 9, i, tzinfo=UTC), text)
        for i, text in enumerate(texts)
    )
    return TopicSnapshot("u", "t", "c", 1, messages)


@given(st.lists(_TEXTS, min_size=1, max_size=4))
def test_the_same_topic_always_gives_the_same_cards(texts: list[str]) -> None:
    first = RulesExtractor(version="2").extract(_snapshot(*texts))
    # A fresh read (not the remembered findings) and a fresh extractor agree with the first.
    assert tuple(read_text(texts[0])) == read_text(texts[0])
    assert RulesExtractor(version="2").extract(_snapshot(*texts)) == first


@pytest.mark.timeout(GUARD_S)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_adversarial_32_kib_message_is_extracted(family: str) -> None:
    text = FAMILIES[family](SIZE)
    assert len(text) == SIZE
    read_text(text)


@pytest.mark.timeout(GUARD_S)
@pytest.mark.parametrize(
    "text",
    [
        "." * (SIZE - 1) + "a",
        "Dr. " * (SIZE // 4),
        "14 " * (SIZE // 3),
        "the 1st " * (SIZE // 8),
        "Alice von " * (SIZE // 10),
        "> " * (SIZE // 2),
        "it is " * (SIZE // 6),
    ],
)
def test_rules2_specific_adversarial_inputs_finish(text: str) -> None:
    read_text(text)


@pytest.mark.timeout(120)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=st.lists(_PIECES, min_size=1, max_size=8).map("".join), tail=_PIECES)
def test_a_generated_repetitive_32_kib_message_is_extracted(unit: str, tail: str) -> None:
    text = (unit * (SIZE // len(unit) + 1))[: SIZE - len(tail)] + tail
    read_text(text)
