"""The llm extractor's request: a versioned prompt, the JSON Schema of the answer, the messages.

Everything that shapes the model's answer apart from the model itself is fixed by the prompt
version: the prompt file ``prompts/v<N>.txt``, the answer schema, the way messages are laid out,
temperature 0 and the seed. So the extractor id ``llm@<N>:<model>`` names all of it, and a new
version (a new file, never an edit of an old one; tests/unit/test_llm_prompt.py pins each
version's digest) is what makes a replay re-derive cards (docs/llm.md, "Extractor ids").

An operator's own prompt (CARDWRIGHT_LLM_PROMPT_FILE) is versioned by its content instead:
``custom-<the first 8 hex digits of the SHA-256 of the prompt as sent>``, the schema in place. So
an edit of the file, and only an edit (or a new answer schema), is a new extractor id: the next
replay re-derives each topic once, and nobody has to remember to bump a number.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from cardwright.schema.cards import CardDraft, CardKind, TopicSnapshot
from cardwright.schema.errors import ConfigurationError
from cardwright.schema.events import utc_text

CURRENT_VERSION = "1"
# The version of a prompt file: this prefix and the first hex digits of its digest. 32 bits keep
# the id short (it shares 200 characters with the model name) and make two edits of one
# operator's prompt colliding a one in four billion chance.
CUSTOM_PREFIX = "custom-"
CUSTOM_DIGEST_CHARS = 8
_SCHEMA_MARK = "<<SCHEMA>>"
# Bytes per token when estimating without the model's tokenizer: English runs near 4 bytes a
# token, other scripts nearer 2 to 3; 3 over-counts English, which is the safe side both for
# the context check and for a cost estimate.
BYTES_PER_TOKEN = 3
# Per message, the chat template's framing and our JSON keys cost a few tokens each.
MESSAGE_OVERHEAD_TOKENS = 12


def known_versions() -> list[str]:
    names = [p.name for p in files(__package__).joinpath("prompts").iterdir()]
    return sorted(n[1:-4] for n in names if n.startswith("v") and n.endswith(".txt"))


@cache
def system_prompt(version: str) -> str:
    """The prompt file of ``version`` with the answer schema in place of its mark."""
    resource = files(__package__).joinpath("prompts", f"v{version}.txt")
    if not resource.is_file():
        raise ConfigurationError(
            f"no llm prompt version {version!r} (known: {', '.join(known_versions())})"
        )
    return _with_schema(resource.read_text(encoding="utf-8"))


def custom_prompt(path: Path) -> tuple[str, str]:
    """The version (``custom-<digest>``) and text of the prompt in ``path``, read now."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"CARDWRIGHT_LLM_PROMPT_FILE: cannot read {str(path)!r}: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"CARDWRIGHT_LLM_PROMPT_FILE: {str(path)!r} is not UTF-8 text"
        ) from None
    if not text.strip():
        raise ConfigurationError(f"CARDWRIGHT_LLM_PROMPT_FILE: {str(path)!r} is empty")
    system = _with_schema(text)
    digest = hashlib.sha256(system.encode("utf-8")).hexdigest()[:CUSTOM_DIGEST_CHARS]
    return CUSTOM_PREFIX + digest, system


def _with_schema(text: str) -> str:
    schema = json.dumps(answer_schema(), separators=(",", ":"), sort_keys=True)
    return text.replace(_SCHEMA_MARK, schema)


@cache
def answer_schema() -> dict[str, Any]:
    """The answer's JSON Schema, generated from ``CardDraft`` in the subset structured outputs
    accept in strict mode: every property required, no additional ones, no length keywords
    (pydantic checks those when the answer is read), the kind enum inlined."""
    card = CardDraft.model_json_schema()
    properties: dict[str, dict[str, Any]] = {}
    for name, spec in card["properties"].items():
        if name == "kind":
            properties[name] = {"type": "string", "enum": [k.value for k in CardKind]}
        elif spec.get("type") == "array":
            properties[name] = {"type": "array", "items": {"type": "string"}}
        else:
            properties[name] = {"type": spec["type"]}
    return {
        "type": "object",
        "properties": {
            "cards": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": properties,
                    "required": sorted(properties),
                    "additionalProperties": False,
                },
            }
        },
        "required": ["cards"],
        "additionalProperties": False,
    }


def user_content(snapshot: TopicSnapshot) -> str:
    """The topic's live messages as the JSON array the prompt describes."""
    return json.dumps(
        [
            {
                "id": m.message_id,
                "role": m.role,
                "created_at": utc_text(m.created_at),
                "text": m.text,
            }
            for m in snapshot.messages
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def estimate_prompt_tokens(system: str, snapshot: TopicSnapshot) -> int:
    """An over-estimate of the prompt's tokens (``system`` and the topic), made without the
    model's tokenizer."""
    return (
        estimate_tokens(system)
        + estimate_tokens(user_content(snapshot))
        + MESSAGE_OVERHEAD_TOKENS * (len(snapshot.messages) + 2)
    )
