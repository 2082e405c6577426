"""The llm extractor's settings, read from ``CARDWRIGHT_LLM_*`` environment variables.

The extractor reads them itself, not from the service's Settings: it is loaded by entry point,
in the member and again in the child process that runs it (extractors/isolation.py), and the
environment is what reaches both. The API key is a ``SecretStr``, unwrapped only into the
request header; an invalid value is a ``ConfigurationError`` naming the variable, never the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cardwright.schema.errors import ConfigurationError

# The extraction timeout of the member (CARDWRIGHT_EXTRACT_TIMEOUT_S, cardwright.settings) kills
# the extractor's process when overrun, and the tokens of a killed attempt are never reported.
# The extractor therefore gives up retrying this share of it, and answers (with a failure and
# its usage) before the kill.
DEADLINE_SHARE = 0.9


class LlmSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARDWRIGHT_LLM_", extra="ignore")

    # The Chat Completions root: https://api.openai.com/v1, http://127.0.0.1:8000/v1 (vLLM),
    # http://127.0.0.1:11434/v1 (Ollama); the extractor posts to <base_url>/chat/completions.
    base_url: str = "https://api.openai.com/v1"
    model: str | None = None
    api_key: SecretStr | None = None
    # How the key is sent: "bearer" (Authorization: Bearer, OpenAI and most servers) or
    # "api-key" (the api-key header of Azure OpenAI).
    auth: Literal["bearer", "api-key"] = "bearer"
    # Azure OpenAI's api-version query parameter; unset elsewhere.
    api_version: str | None = None
    # One request: connecting, and waiting for the whole answer. A 1-2 s model answers well
    # within 20 s; a stuck server is abandoned and retried.
    connect_timeout_s: float = Field(default=5.0, gt=0)
    request_timeout_s: float = Field(default=20.0, gt=0)
    # Retries of one extraction after a 429, a 5xx, a timeout or a lost connection.
    max_retries: int = Field(default=4, ge=0)
    # Requests per second this extractor process sends at most (0: no limit). A member runs one
    # process per extraction slot (consumers/pool.py), so it sends up to slots times this.
    max_requests_per_s: float = Field(default=0.0, ge=0)
    # "auto": JSON Schema structured outputs, falling back to JSON mode (plus the same
    # validation) once a server refuses them; or either one forced.
    response_format: Literal["auto", "json_schema", "json_object"] = "auto"
    # The model's context window, and the most tokens an answer may take. A topic whose prompt
    # would not fit in the difference fails clearly, without a request (docs/llm.md).
    context_tokens: int = Field(default=8192, ge=256)
    max_completion_tokens: int = Field(default=1024, ge=16)
    seed: int = 0
    # An operator's own system prompt instead of the packaged one (prompt.py): its digest is the
    # prompt version in the extractor id, so editing it re-derives each topic once on replay.
    prompt_file: Path | None = None

    @field_validator("prompt_file", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # CARDWRIGHT_LLM_PROMPT_FILE= means no file


class _ExtractTimeout(BaseSettings):
    """The member's extraction timeout, read here only to stop retrying before it."""

    model_config = SettingsConfigDict(env_prefix="CARDWRIGHT_", extra="ignore")

    extract_timeout_s: float = Field(default=30.0, gt=0)


def load_llm_settings() -> tuple[LlmSettings, float]:
    """The settings and the deadline of one extraction, in seconds."""
    try:
        settings = LlmSettings()
        deadline_s = _ExtractTimeout().extract_timeout_s * DEADLINE_SHARE
    except ValidationError as exc:
        problems = "; ".join(
            f"CARDWRIGHT_{'LLM_' if error['loc'][0] != 'extract_timeout_s' else ''}"
            f"{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"invalid setting {problems}") from None
    return settings, deadline_s
