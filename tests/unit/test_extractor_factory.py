"""``load_extractor("package.module:attr")``: a plug-in made by an importable factory.

Factories for these tests live in this module; the spec names it like any other.
"""

from __future__ import annotations

import pytest

from cardwright.extractors.base import Extractor, load_extractor
from cardwright.schema.cards import CardDraft, CardKind, TopicSnapshot
from cardwright.schema.errors import ConfigurationError

HERE = __name__


class EchoExtractor:
    """One card per live message, titled with its id."""

    extractor_id = "echo@3"

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        return [
            CardDraft(kind=CardKind.LINK, title=m.message_id, message_ids=(m.message_id,))
            for m in snapshot.messages
        ]


def not_an_extractor() -> object:
    return object()


NOT_CALLABLE = "echo"


def test_a_factory_spec_imports_the_module_and_calls_the_attribute() -> None:
    extractor = load_extractor(f"{HERE}:EchoExtractor")
    assert isinstance(extractor, EchoExtractor)
    assert isinstance(extractor, Extractor)
    assert extractor.extractor_id == "echo@3"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("no_such_module_for_cardwright:Factory", "cannot import 'no_such_module_for_cardwright'"),
        (f"{HERE}:Missing", "has no callable 'Missing'"),
        (f"{HERE}:NOT_CALLABLE", "has no callable 'NOT_CALLABLE'"),
        (f"{HERE}:not_an_extractor", "returned object, not an Extractor"),
        (f"{HERE}:", "package.module:attr"),
        (":EchoExtractor", "package.module:attr"),
        (f"{HERE}:EchoExtractor@2", "no @version"),
    ],
)
def test_a_bad_factory_spec_is_a_configuration_error_naming_the_problem(
    spec: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_extractor(spec)
    assert says in str(caught.value)
    assert repr(spec) in str(caught.value)


def test_names_without_a_colon_still_go_through_the_entry_points() -> None:
    with pytest.raises(ConfigurationError, match="unknown extractor 'no-such-extractor'"):
        load_extractor("no-such-extractor")
