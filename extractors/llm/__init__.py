"""The ``llm`` extractor: cards from a model behind an OpenAI-compatible Chat Completions API.

    CARDWRIGHT_EXTRACTOR=llm  CARDWRIGHT_LLM_BASE_URL=...  CARDWRIGHT_LLM_MODEL=...
    CARDWRIGHT_LLM_API_KEY=...  (docs/llm.md)

Its id is ``llm@<prompt version>:<model>``: the two things that change its output (the prompt
version fixes the prompt, the answer schema, temperature 0 and the seed, see prompt.py), so a
replay with the same model and prompt spends no token and a change of either re-derives every
topic once. ``llm``, ``llm@1`` and ``llm@1:<model>`` are all specs of it; a model named in the
spec wins over CARDWRIGHT_LLM_MODEL, so any stored extractor id loads the extractor that made it.
With CARDWRIGHT_LLM_PROMPT_FILE, ``llm`` means that prompt, version ``custom-<digest>``; the spec
``llm@custom-<digest>`` loads only while the file still has that digest, since the prompt is not
ours to keep.

One extraction is one request (plus the client's retries, client.py). The answer is read whole
or not at all: JSON that does not parse, breaks the schema, is cut off at the token limit or cites
a message outside the topic fails the topic (``ExtractionFailed`` with the tokens it spent), and
the member keeps the previous cards. A topic whose prompt would not fit the context window fails
before any request (docs/llm.md, "Long topics").
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson
from pydantic import ValidationError

from cardwright.extractors.base import Metered
from cardwright.extractors.llm.client import Answer, CallFailed, ChatClient, FormatRefused
from cardwright.extractors.llm.prompt import (
    CURRENT_VERSION,
    CUSTOM_PREFIX,
    answer_schema,
    custom_prompt,
    estimate_prompt_tokens,
    estimate_tokens,
    system_prompt,
    user_content,
)
from cardwright.extractors.llm.settings import LlmSettings, load_llm_settings
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.schema.errors import ConfigurationError, ExtractionFailed
from cardwright.schema.usage import TokenUsage

log = logging.getLogger("cardwright.extractors.llm")

NAME = "llm"
# Model names as the id carries them: what providers use (letters, digits, "-._:/@+"), short
# enough for the 200-character extractor_id column.
MAX_MODEL_LENGTH = 180


class LlmExtractor:
    """See the module docstring. ``version`` is ``"<prompt version>"`` or
    ``"<prompt version>:<model>"``; settings default to the environment's."""

    def __init__(
        self,
        version: str | None = None,
        *,
        settings: LlmSettings | None = None,
        deadline_s: float | None = None,
        client: ChatClient | None = None,
    ) -> None:
        if settings is None:
            settings, env_deadline = load_llm_settings()
            deadline_s = deadline_s if deadline_s is not None else env_deadline
        self.settings = settings
        self.deadline_s = deadline_s if deadline_s is not None else 27.0
        spec_version, _, spec_model = (version or "").partition(":")
        self.prompt_version, self.system = _prompt(spec_version, settings)
        self.model = _checked_model(spec_model or settings.model)
        self.extractor_id = f"{NAME}@{self.prompt_version}:{self.model}"
        self._client = client or ChatClient(settings)
        self._format = "json_schema" if settings.response_format != "json_object" else "json_object"
        self._format_lock = threading.Lock()

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        return self.extract_metered(snapshot).drafts

    def estimate(self, snapshot: TopicSnapshot) -> TokenUsage:
        if not snapshot.messages:
            return TokenUsage(self.model)
        prompt = estimate_prompt_tokens(self.system, snapshot)
        return TokenUsage(self.model, prompt, self.settings.max_completion_tokens, 1)

    def extract_metered(self, snapshot: TopicSnapshot) -> Metered:
        if not snapshot.messages:
            return Metered([], TokenUsage(self.model))  # nothing to read: no call
        deadline = time.monotonic() + self.deadline_s
        self._check_fits(snapshot)
        while True:
            response_format = self._format
            body = self._body(snapshot, response_format)
            try:
                answer, calls = self._client.complete(body, deadline)
            except FormatRefused as refused:
                if not self._fall_back(response_format, refused):
                    raise self._failed(snapshot, refused.cause, TokenUsage(self.model)) from None
                continue
            except CallFailed as failed:
                raise self._failed(
                    snapshot, failed.cause, TokenUsage(self.model, calls=failed.calls)
                ) from None
            break
        content = answer.content or ""
        usage = TokenUsage(
            self.model,
            # A server that reports no usage is charged our estimate, so budgets still hold.
            answer.prompt_tokens
            if answer.prompt_tokens is not None
            else estimate_prompt_tokens(self.system, snapshot),
            answer.completion_tokens
            if answer.completion_tokens is not None
            else estimate_tokens(content),
            calls,
        )
        log.debug(
            "model answered",
            extra={
                "model": self.model,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "calls": calls,
            },
        )
        return Metered(self._read(snapshot, answer, usage), usage)

    def close(self) -> None:
        self._client.close()

    # --- the request -------------------------------------------------------------------------

    def _body(self, snapshot: TopicSnapshot, response_format: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": user_content(snapshot)},
            ],
            "temperature": 0,
            "seed": self.settings.seed,
            "max_tokens": self.settings.max_completion_tokens,
        }
        if response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "cards", "strict": True, "schema": answer_schema()},
            }
        else:
            body["response_format"] = {"type": "json_object"}
        return body

    def _check_fits(self, snapshot: TopicSnapshot) -> None:
        """The context policy: fail the topic, before any request, when its prompt (estimated
        on the safe side) and the longest answer would not fit the model's context window.
        Never truncate: cards from part of a topic would look complete and be wrong."""
        prompt = estimate_prompt_tokens(self.system, snapshot)
        room = self.settings.context_tokens - self.settings.max_completion_tokens
        if prompt > room:
            raise self._failed(
                snapshot,
                f"topic too long for the model's context: about {prompt} prompt tokens for "
                f"{len(snapshot.messages)} messages, room for {room} (CARDWRIGHT_LLM_CONTEXT_TOKENS"
                f"={self.settings.context_tokens} less CARDWRIGHT_LLM_MAX_COMPLETION_TOKENS="
                f"{self.settings.max_completion_tokens}); no request sent",
                TokenUsage(self.model),
            )

    def _fall_back(self, tried: str, refused: FormatRefused) -> bool:
        """After a refused json_schema in "auto" mode, use JSON mode from now on."""
        if tried != "json_schema" or self.settings.response_format != "auto":
            return False
        with self._format_lock:
            if self._format == "json_schema":
                self._format = "json_object"
                log.warning(
                    "the server refused structured outputs; using JSON mode and validating "
                    "answers against the same schema: %s",
                    refused.cause,
                )
        return True

    # --- the answer --------------------------------------------------------------------------

    def _read(self, snapshot: TopicSnapshot, answer: Answer, usage: TokenUsage) -> list[CardDraft]:
        """All the answer's cards, or ``ExtractionFailed``: never a part of them."""
        content = answer.content
        if answer.refusal:
            raise self._failed(snapshot, f"the model refused: {answer.refusal[:200]}", usage)
        if answer.finish_reason == "length":
            raise self._failed(
                snapshot,
                "the answer was cut off at CARDWRIGHT_LLM_MAX_COMPLETION_TOKENS="
                f"{self.settings.max_completion_tokens}",
                usage,
            )
        if not content:
            raise self._failed(snapshot, "the answer has no content", usage)
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise self._failed(snapshot, f"the answer is not JSON: {exc}", usage) from None
        cards = document.get("cards") if isinstance(document, dict) else None
        if not isinstance(cards, list):
            raise self._failed(snapshot, 'the answer has no "cards" array', usage)
        known = {m.message_id for m in snapshot.messages}
        drafts = []
        for position, card in enumerate(cards):
            try:
                draft = CardDraft.model_validate(card)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                    for e in exc.errors(include_url=False, include_input=False)
                )
                raise self._failed(
                    snapshot, f"card {position} breaks the schema: {problems}", usage
                ) from None
            unknown = sorted(set(draft.message_ids) - known)
            if unknown:
                raise self._failed(
                    snapshot,
                    f"card {position} cites messages outside the topic: {unknown[:3]}",
                    usage,
                )
            drafts.append(draft)
        return drafts

    @staticmethod
    def _failed(snapshot: TopicSnapshot, cause: str, usage: TokenUsage) -> ExtractionFailed:
        return ExtractionFailed(snapshot.user_id, snapshot.topic_id, cause, usage=usage)


def _prompt(version: str, settings: LlmSettings) -> tuple[str, str]:
    """The prompt version and system prompt a spec's version (``""`` if none) names."""
    if version.startswith(CUSTOM_PREFIX) or (not version and settings.prompt_file):
        if settings.prompt_file is None:
            raise ConfigurationError(
                f"extractor llm@{version} uses a prompt file: set CARDWRIGHT_LLM_PROMPT_FILE to "
                "the prompt it was made with"
            )
        found, system = custom_prompt(settings.prompt_file)
        if version and version != found:
            raise ConfigurationError(
                f"extractor llm@{version} needs the prompt it was made with, but "
                f"CARDWRIGHT_LLM_PROMPT_FILE ({str(settings.prompt_file)!r}) is now {found}: "
                "the file changed (use llm alone for the file as it is)"
            )
        return found, system
    if version and settings.prompt_file:
        log.warning(
            "CARDWRIGHT_LLM_PROMPT_FILE is not used: the extractor spec names prompt version %s",
            version,
        )
    version = version or CURRENT_VERSION
    return version, system_prompt(version)  # a ConfigurationError for unknown versions


def _checked_model(model: str | None) -> str:
    if not model:
        raise ConfigurationError(
            "the llm extractor needs a model: set CARDWRIGHT_LLM_MODEL (or name it in the "
            "extractor spec, llm@1:<model>)"
        )
    if len(model) > MAX_MODEL_LENGTH or any(c.isspace() or not c.isprintable() for c in model):
        raise ConfigurationError(
            f"CARDWRIGHT_LLM_MODEL: a model name of at most {MAX_MODEL_LENGTH} printable "
            "characters without spaces"
        )
    return model
