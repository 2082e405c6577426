"""rules@2: what it finds that rules@1 missed, dates against created_at, merging, selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cardwright.extractors.base import load_extractor
from cardwright.extractors.rules import RulesExtractor
from cardwright.extractors.rules2 import Rules2Extractor
from cardwright.schema.cards import CardDraft, CardKind, LiveMessage, TopicSnapshot

WEDNESDAY = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def extract(*texts: str, at: datetime = WEDNESDAY) -> list[CardDraft]:
    messages = tuple(
        LiveMessage(f"m{i}", "user", at + timedelta(minutes=i), text)
        for i, text in enumerate(texts)
    )
    return RulesExtractor(version="2").extract(TopicSnapshot("u", "t", "c", 1, messages))


def titles(drafts: list[CardDraft], kind: CardKind) -> list[str]:
    return [d.title for d in drafts if d.kind is kind]


def test_rules_at_2_is_selectable_and_rules_at_1_stays_the_default() -> None:
    assert isinstance(load_extractor("rules@2"), Rules2Extractor)
    assert load_extractor("rules@2").extractor_id == "rules@2"
    assert type(load_extractor("rules")) is RulesExtractor
    assert load_extractor("rules@1").extractor_id == "rules@1"
    assert type(RulesExtractor(version="3")) is RulesExtractor
    with pytest.raises(ValueError):
        Rules2Extractor(version="1")


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("see you tomorrow at 3pm", "2026-03-05 15:00"),
        ("this week is busy", "2026-W10"),
        ("next week then", "2026-W11"),
        ("due the 14th", "2026-03-14"),
        ("launch in June 2027", "2027-06"),
        ("on Friday", "2026-03-06"),
        ("last Monday", "2026-03-02"),
        ("nos vemos mañana", "2026-03-05"),
        ("el 14 de junio a las 10:30", "2026-06-14 10:30"),
        ("am 2. Juli um 15 Uhr", "2026-07-02 15:00"),
        ("la semaine prochaine", "2026-W11"),
        ("Frist 14.03.2026", "2026-03-14"),
        ("March 1", "2027-03-01"),
    ],
)
def test_dates_are_iso_against_the_message_day(text: str, iso: str) -> None:
    assert [t.split(" (")[0] for t in titles(extract(text), CardKind.DATE)] == [iso]


@pytest.mark.parametrize("text", ["Odio madrugar los lunes.", "I hate Mondays.", "les lundis"])
def test_a_weekday_said_of_every_week_is_no_date(text: str) -> None:
    assert titles(extract(text), CardKind.DATE) == []


def test_relative_dates_use_each_message_created_at_not_the_clock() -> None:
    later = WEDNESDAY + timedelta(days=30)
    assert titles(extract("tomorrow", at=later), CardKind.DATE) == ["2026-04-04 (tomorrow)"]


def test_the_same_day_said_differently_is_one_card_citing_both_messages() -> None:
    drafts = extract("Let's meet tomorrow.", "Fine, March 5 it is.")
    dates = [d for d in drafts if d.kind is CardKind.DATE]
    assert [(d.title, d.message_ids) for d in dates] == [("2026-03-05 (tomorrow)", ("m0", "m1"))]


def test_a_first_name_alone_joins_the_full_name_mentioned_elsewhere() -> None:
    drafts = extract("Alice Smith joins from Acme Inc.", "Alice can present.")
    people = [(d.title, d.message_ids) for d in drafts if d.kind is CardKind.PERSON]
    assert people == [("Alice Smith", ("m0", "m1"))]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Call mom tonight.", CardKind.ACTION_ITEM),
        ("Email Prof. Kim about it.", CardKind.ACTION_ITEM),
        ("Send it.", CardKind.ACTION_ITEM),
        ("We chose the blue one.", CardKind.DECISION),
        ("We'll ship on Monday.", CardKind.DECISION),
        ("Lisbon it is.", CardKind.DECISION),
        ("No olvides comprar pan.", CardKind.ACTION_ITEM),
        ("Wir haben entschieden.", CardKind.DECISION),
        ("Je préfère le thé.", CardKind.PREFERENCE),
    ],
)
def test_statements_rules1_missed(text: str, kind: CardKind) -> None:
    assert [d.kind for d in extract(text) if d.kind is kind] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "We haven't decided yet.",
        "We don't need to call.",
        'He said "we decided to cancel" but no.',
        "How are you?",
        "> We decided to go.",
        "```\nTODO: send it tomorrow\n```",
    ],
)
def test_negations_smalltalk_quotes_and_code_are_no_statements(text: str) -> None:
    kinds = {CardKind.ACTION_ITEM, CardKind.DECISION, CardKind.QUESTION, CardKind.PREFERENCE}
    assert [d for d in extract(text) if d.kind in kinds] == []


def test_names_rules1_missed_get_readable_titles() -> None:
    drafts = extract("I met Priya Raman at Blue Bottle.", "Email Prof. Kim and Herrn Müller.")
    assert titles(drafts, CardKind.PERSON) == ["Priya Raman", "Prof. Kim", "Herr Müller"]
    assert titles(drafts, CardKind.PLACE) == ["Blue Bottle"]
