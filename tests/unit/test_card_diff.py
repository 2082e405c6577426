"""Card set differences for reextract --dry-run: matched by kind and title, in order."""

from __future__ import annotations

from cardwright.schema.card_diff import CardFace, diff_cards


def card(
    title: str, body: str = "", kind: str = "decision", ids: tuple[str, ...] = ("m1",)
) -> CardFace:
    return CardFace(kind, title, body, ids)


def test_added_removed_and_changed_cards() -> None:
    before = [card("A"), card("B", "old"), card("C")]
    after = [card("B", "new"), card("C"), card("D")]
    diff = diff_cards(before, after)
    assert diff.added == (card("D"),)
    assert diff.removed == (card("A"),)
    assert diff.changed == ((card("B", "old"), card("B", "new")),)
    assert diff.counts() == {"added": 1, "removed": 1, "changed": 1}


def test_same_cards_in_the_same_order_are_no_difference() -> None:
    cards = [card("A"), card("A", kind="question"), card("B", ids=("m1", "m2"))]
    assert diff_cards(cards, list(cards)).empty


def test_repeated_titles_match_occurrence_by_occurrence() -> None:
    diff = diff_cards([card("A", "1")], [card("A", "1"), card("A", "2")])
    assert diff.added == (card("A", "2"),) and not diff.removed and not diff.changed


def test_cited_messages_count_as_a_change() -> None:
    diff = diff_cards([card("A", ids=("m1",))], [card("A", ids=("m1", "m2"))])
    assert len(diff.changed) == 1
