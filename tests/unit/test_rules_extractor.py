"""The default ``rules`` extractor: what it finds in chat text, how it merges, and its stability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cardwright.extractors.base import Extractor, load_extractor
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import CardDraft, CardKind, LiveMessage, TopicSnapshot

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

CHAT = (
    ("user", "Hi! I had a call with Alice Smith from Acme Inc this morning."),
    ("assistant", "Great. Should we send her the proposal before next Friday?"),
    ("user", "Yes. I'll send the draft tomorrow at 3pm. We decided to go with the annual plan."),
    ("assistant", "Noted. The pricing page is https://docs.example.com/pricing/v2."),
    ("user", "Remember to cc Dr. Brown. The review is on 2026-03-04 at Heathrow Airport."),
    ("user", "I prefer morning meetings, and my flight goes to Tokyo on 4 March 2026."),
)


def snapshot(*texts: str | tuple[str, str]) -> TopicSnapshot:
    messages = []
    for index, item in enumerate(texts):
        role, text = item if isinstance(item, tuple) else ("user", item)
        created = START + timedelta(minutes=index)
        messages.append(LiveMessage(f"m{index}", role, created, text))
    return TopicSnapshot("u1", "t1", "c1", len(messages), tuple(messages))


def cards(*texts: str | tuple[str, str]) -> list[CardDraft]:
    return RulesExtractor().extract(snapshot(*texts))


def of_kind(drafts: list[CardDraft], kind: CardKind) -> dict[str, tuple[str, ...]]:
    return {d.title: d.message_ids for d in drafts if d.kind is kind}


@pytest.fixture(scope="module")
def chat_cards() -> list[CardDraft]:
    return cards(*CHAT)


def test_action_items_come_from_commitments_and_reminders(chat_cards: list[CardDraft]) -> None:
    found = of_kind(chat_cards, CardKind.ACTION_ITEM)
    assert found == {
        "I'll send the draft tomorrow at 3pm.": ("m2",),
        "Remember to cc Dr. Brown.": ("m4",),
    }


def test_action_item_phrasings_are_recognised() -> None:
    texts = [
        "TODO: renew the domain",
        "please review the contract",
        "Let's book the venue",
        "don't forget to water the plants",
        "We need to hire a designer",
        "you must sign the form",
    ]
    assert [d.kind for d in cards(*texts)] == [CardKind.ACTION_ITEM] * len(texts)


def test_decisions_outrank_the_actions_they_imply(chat_cards: list[CardDraft]) -> None:
    found = of_kind(chat_cards, CardKind.DECISION)
    assert found == {"We decided to go with the annual plan.": ("m2",)}


def test_an_undecided_matter_is_not_a_decision() -> None:
    assert of_kind(cards("We haven't decided on the venue yet."), CardKind.DECISION) == {}


def test_questions_from_either_role_are_kept_but_short_ones_are_not(
    chat_cards: list[CardDraft],
) -> None:
    assert of_kind(chat_cards, CardKind.QUESTION) == {
        "Should we send her the proposal before next Friday?": ("m1",)
    }
    assert cards("ok?", ("assistant", "really?")) == []


def test_people_come_from_names_titles_and_mentions(chat_cards: list[CardDraft]) -> None:
    assert of_kind(chat_cards, CardKind.PERSON) == {
        "Alice Smith": ("m0",),
        "Dr. Brown": ("m4",),
    }
    assert "@bob_k" in of_kind(cards("Ping @bob_k about it, not bob@example.com"), CardKind.PERSON)


def test_places_come_from_the_gazetteer_and_place_suffixes(chat_cards: list[CardDraft]) -> None:
    assert of_kind(chat_cards, CardKind.PLACE) == {"Heathrow Airport": ("m4",), "Tokyo": ("m5",)}


def test_organisations_come_from_suffixes_and_acronyms(chat_cards: list[CardDraft]) -> None:
    assert of_kind(chat_cards, CardKind.ORGANISATION) == {"Acme Inc": ("m0",)}
    found = of_kind(
        cards("The NASA folks join, and the University of Oxford too."), CardKind.ORGANISATION
    )
    assert set(found) == {"NASA", "University of Oxford"}


def test_shouting_and_chat_shorthand_are_not_organisations() -> None:
    assert of_kind(cards("PLEASE CALL ME ASAP, FYI the API is down"), CardKind.ORGANISATION) == {}


def test_dates_merge_across_ways_of_writing_them(chat_cards: list[CardDraft]) -> None:
    found = of_kind(chat_cards, CardKind.DATE)
    assert found == {
        "next Friday": ("m1",),
        "tomorrow": ("m2",),
        "3pm": ("m2",),
        "2026-03-04": ("m4", "m5"),
    }
    date = next(d for d in chat_cards if d.title == "tomorrow")
    assert date.body == "I'll send the draft tomorrow at 3pm."


def test_links_drop_trailing_punctuation_and_name_their_domain(chat_cards: list[CardDraft]) -> None:
    (link,) = [d for d in chat_cards if d.kind is CardKind.LINK]
    assert link.title == "https://docs.example.com/pricing/v2"
    assert link.body == "docs.example.com"
    assert link.message_ids == ("m3",)


def test_preferences_are_recognised(chat_cards: list[CardDraft]) -> None:
    assert list(of_kind(chat_cards, CardKind.PREFERENCE)) == [
        "I prefer morning meetings, and my flight goes to Tokyo on 4 March 2026."
    ]


def test_an_entity_named_in_two_messages_is_one_card_citing_both() -> None:
    drafts = cards("Alice will bring the slides.", "Nothing here.", "Thanks Alice, and Alice!")
    (alice,) = [d for d in drafts if d.kind is CardKind.PERSON]
    assert alice.title == "Alice"
    assert alice.message_ids == ("m0", "m2")
    assert alice.body == "Mentioned 3 times in 2 messages."


def test_cards_are_ordered_by_kind_then_first_mention(chat_cards: list[CardDraft]) -> None:
    order = list(CardKind)
    positions = [order.index(d.kind) for d in chat_cards]
    assert positions == sorted(positions)


def test_the_same_snapshot_gives_the_same_cards_in_the_same_order() -> None:
    first = RulesExtractor().extract(snapshot(*CHAT))
    again = RulesExtractor().extract(snapshot(*CHAT))
    assert first == again


def test_an_empty_topic_has_no_cards() -> None:
    assert RulesExtractor().extract(TopicSnapshot("u1", "t1", "c1", 0, ())) == []


def test_non_ascii_text_and_emoji_are_handled() -> None:
    drafts = cards(
        "Je préfère Zürich 😊. Können wir uns am Montag treffen? 👍👍",
        "明日は会議です。日本語のテキスト！ I'll email José García from Kraków 🚀.",
        "🎉🎉🎉",
    )
    assert of_kind(drafts, CardKind.PLACE) == {"Zürich": ("m0",), "Kraków": ("m1",)}
    assert "José García" in of_kind(drafts, CardKind.PERSON)
    assert "Können wir uns am Montag treffen?" in of_kind(drafts, CardKind.QUESTION)


def test_code_blocks_are_not_mined_for_cards() -> None:
    text = "Here it is:\n```\nTODO = SELECT * FROM users -- call Alice on 2026-03-04\n```\nDone."
    assert cards(text) == []


def test_a_large_topic_is_extracted() -> None:
    lines = (
        "I'll call Alice Smith tomorrow at 3pm about the Acme Inc deal in Berlin.",
        "Can we move the meeting to next Friday? Details: https://example.com/a?b=c.",
        "We decided to go with Postgres. I prefer mornings. TODO: update the doc.",
    )
    texts = [f"{lines[i % 3]} Ticket {i}." for i in range(2000)]
    texts.append("word " * 6500 + "Alice Bob " * 1500)  # one message near the 32 KiB limit
    drafts = cards(*texts)
    alice = next(d for d in drafts if d.title == "Alice Smith")
    assert len(alice.message_ids) == 667


def test_every_draft_is_valid_and_cites_only_messages_of_the_snapshot(
    chat_cards: list[CardDraft],
) -> None:
    ids = {f"m{i}" for i in range(len(CHAT))}
    for draft in chat_cards:
        assert CardDraft.model_validate(draft.model_dump()) == draft
        assert set(draft.message_ids) <= ids
        assert len(set(draft.message_ids)) == len(draft.message_ids)


def test_long_sentences_are_truncated_in_the_title_but_kept_in_the_body() -> None:
    sentence = "I'll " + "really " * 100 + "finish it."
    (draft,) = cards(sentence)
    assert len(draft.title) <= 120
    assert draft.body == sentence


def test_the_version_is_part_of_the_extractor_id() -> None:
    assert RulesExtractor().extractor_id == "rules@1"
    assert RulesExtractor(version="2").extractor_id == "rules@2"
    with pytest.raises(ValueError):
        RulesExtractor(version="")


def test_rules_is_registered_as_an_entry_point() -> None:
    extractor = load_extractor("rules")
    assert isinstance(extractor, RulesExtractor)
    assert isinstance(extractor, Extractor)
    assert extractor.extractor_id == "rules@1"


def test_currency_codes_are_amounts_not_organisations() -> None:
    drafts = RulesExtractor().extract(snapshot("Let's keep the budget under 2000 EUR or 2200 USD."))
    assert not [d for d in drafts if d.kind is CardKind.ORGANISATION]
