"""Export the JSON Schema of MessageEvent v1 to ``schema/message_event.v1.schema.json``.

Run ``python -m cardwright.schema.export`` after changing the model; a test fails while the
committed file is stale, so producers in other languages always validate against the real contract.
The model adds to the schema what its field types alone do not say (patterns, the op/revision/text
conditionals, a required ``schema_version``); what JSON Schema cannot say at all is listed in the
description and tested in tests/unit/test_event_schema_differential.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cardwright.schema.events import MessageEvent

SCHEMA_PATH = Path(__file__).parent / "message_event.v1.schema.json"


def render() -> str:
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:cardwright:schema:message-event:v1",
        **MessageEvent.model_json_schema(mode="validation"),
    }
    document["description"] = (
        "A change of one chat message, carrying the whole message at its revision. "
        "Kafka record key: topic_id (UTF-8). text is at most 32 KiB of UTF-8; empty only when "
        "op is 'deleted'; created events have revision 0, edits and deletes raise it. "
        "Rules beyond JSON Schema, checked by the consumer: no duplicate keys; integers written "
        "without fraction or exponent; strings without lone surrogate escapes; created_at and "
        "occurred_at within years 1..9999 once converted to UTC; text at most 32768 bytes of "
        "UTF-8 (maxLength bounds its code points only); the record key equals topic_id."
    )
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
