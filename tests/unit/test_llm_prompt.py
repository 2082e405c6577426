"""The llm extractor's prompt versions are immutable, and its answer schema fits both the card
model and the strict subset that structured outputs take.

A prompt version is part of the extractor id and so of every source hash made with it: editing
``prompts/v1.txt`` (or the schema it embeds) in place would change answers without re-deriving
the cards made before. The digests below pin each version; a change needs a new file, v2.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jsonschema
import pytest

from cardwright.extractors.llm.prompt import answer_schema, known_versions, system_prompt
from cardwright.schema.cards import CardDraft, CardKind

PINNED = {
    "1": "18df248d4d68c1eb0615b3a40da3380be1502b76ab2788bcafa0bebf65dc67c0",
}


@pytest.mark.parametrize("version", sorted(PINNED))
def test_a_released_prompt_version_never_changes(version: str) -> None:
    digest = hashlib.sha256(system_prompt(version).encode()).hexdigest()
    assert digest == PINNED[version], (
        f"prompt v{version} changed: add prompts/v<next>.txt instead (docs/llm.md)"
    )


def test_every_packaged_version_is_pinned() -> None:
    assert known_versions() == sorted(PINNED)


def test_the_schema_is_in_the_prompt() -> None:
    assert json.dumps(answer_schema(), separators=(",", ":"), sort_keys=True) in system_prompt("1")


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema] if schema.get("type") == "object" else []
    for value in schema.get("properties", {}).values():
        found += _objects(value)
    if isinstance(schema.get("items"), dict):
        found += _objects(schema["items"])
    return found


def test_the_schema_is_in_the_strict_subset() -> None:
    """Structured outputs in strict mode: every property required, none additional, no $ref."""
    schema = answer_schema()
    for obj in _objects(schema):
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    assert "$ref" not in json.dumps(schema) and "$defs" not in json.dumps(schema)


def test_the_schema_follows_the_card_model() -> None:
    """Field names and kinds come from CardDraft: an answer valid under the schema is one the
    model reads (lengths apart, which pydantic checks)."""
    card = answer_schema()["properties"]["cards"]["items"]
    assert set(card["properties"]) == set(CardDraft.model_fields)
    assert card["properties"]["kind"]["enum"] == [k.value for k in CardKind]
    answer = {"cards": [{"kind": "date", "title": "Friday", "body": "", "message_ids": ["m1"]}]}
    jsonschema.validate(answer, answer_schema())
    CardDraft.model_validate(answer["cards"][0])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"cards": [{"kind": "date", "title": "x"}]}, answer_schema())
