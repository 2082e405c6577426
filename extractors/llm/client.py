"""One Chat Completions request, with the retries a remote model needs: ``ChatClient.complete``.

httpx rather than the ``openai`` package: the extractor owns the retry policy (it must honour
Retry-After, stop before the member's extraction timeout and count every call it made for cost
accounting, which the SDK's built-in retries hide), it sends one plain JSON body that every
compatible server takes (OpenAI, Azure OpenAI, vLLM, Ollama, the llama.cpp server, LiteLLM), and
it is one small dependency with explicit connect and read timeouts instead of a whole SDK.

What is retried (docs/llm.md, "Faults"): 429 (after its Retry-After, seconds or an HTTP date,
else backoff), 408, 5xx, timeouts and connection errors, with exponential backoff and full
jitter, until ``max_retries`` or the deadline. Anything else is answered at once: a 400 saying
the prompt is over the context window (``ContextTooLong``), a 400 about ``response_format``
(``FormatRefused``, so the extractor can fall back to JSON mode), any other 4xx (``CallFailed``).
The API key goes into one header and nowhere else; text from the server is cleared of it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from cardwright.extractors.llm.settings import LlmSettings

log = logging.getLogger("cardwright.extractors.llm")

# Backoff of retry n (1, 2, ...): a random share of min(CAP, BASE * 2**(n-1)) seconds (full
# jitter, so members that failed together do not retry together; the rule of consumers.backoff).
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
# A request is not started with less time than this left before the deadline: it could not
# get an answer anyway.
MIN_REQUEST_S = 0.2
# Server text kept in an error: enough for a message, never a whole page.
ERROR_EXCERPT = 300
_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens")
_FORMAT_HINTS = ("response_format", "json_schema", "structured output")


@dataclass(frozen=True, slots=True)
class Answer:
    """The parts of a chat completion the extractor reads."""

    content: str | None
    finish_reason: str | None
    refusal: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


class CallFailed(Exception):
    """No usable answer: ``calls`` requests were sent (they cost no tokens: none answered)."""

    def __init__(self, cause: str, calls: int) -> None:
        super().__init__(cause)
        self.cause = cause
        self.calls = calls


class ContextTooLong(CallFailed):
    """The server says the prompt does not fit the model's context window."""


class FormatRefused(CallFailed):
    """The server does not take the ``response_format`` sent (no structured outputs)."""


@dataclass(frozen=True, slots=True)
class _Retry:
    """A failed request worth repeating: after ``wait_s`` (the server's Retry-After) or backoff."""

    wait_s: float | None
    cause: str


class ChatClient:
    """Posts to ``<base_url>/chat/completions``; safe to share between threads."""

    def __init__(
        self,
        settings: LlmSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        headers = {"content-type": "application/json"}
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self._key = key
        if key:
            if settings.auth == "api-key":
                headers["api-key"] = key
            else:
                headers["authorization"] = f"Bearer {key}"
        params = {"api-version": settings.api_version} if settings.api_version else None
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._http = httpx.Client(
            headers=headers,
            params=params,
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
        )
        self._rate_lock = threading.Lock()
        self._next_request_at = float("-inf")

    def close(self) -> None:
        self._http.close()

    def complete(self, body: dict[str, Any], deadline: float) -> tuple[Answer, int]:
        """The answer to ``body`` and the number of requests it took; ``deadline`` is on the
        client's clock. Raises ``CallFailed`` (or a subclass) when there is no answer."""
        payload = orjson.dumps(body)
        calls = 0
        while True:
            remaining = deadline - self._clock()
            if remaining < MIN_REQUEST_S:
                raise CallFailed("no answer before the extraction deadline", calls)
            self._pace(deadline)
            calls += 1
            result = self._attempt(payload, min(remaining, self._settings.request_timeout_s))
            if isinstance(result, Answer):
                return result, calls
            if isinstance(result, CallFailed):
                raise type(result)(result.cause, calls)
            if calls > self._settings.max_retries:
                raise CallFailed(f"{result.cause} (gave up after {calls} requests)", calls)
            wait = result.wait_s if result.wait_s is not None else self._backoff(calls)
            if self._clock() + wait > deadline - MIN_REQUEST_S:
                raise CallFailed(
                    f"{result.cause}; the next try ({wait:.1f} s away) would pass the extraction "
                    f"deadline (gave up after {calls} requests)",
                    calls,
                )
            log.info("model call failed, retrying in %.2f s: %s", wait, result.cause)
            self._sleep(wait)

    def _attempt(self, payload: bytes, timeout_s: float) -> Answer | CallFailed | _Retry:
        """One request: an answer, a failure not worth repeating, or one worth repeating."""
        started = self._clock()
        try:
            response = self._http.post(self._url, content=payload, timeout=timeout_s)
        except httpx.TimeoutException:
            return _Retry(None, f"no answer within {timeout_s:.1f} s")
        except httpx.TransportError as exc:
            return _Retry(None, f"connection failed: {type(exc).__name__}: {self._clean(str(exc))}")
        status = response.status_code
        log.debug(
            "model answered %d in %.3f s", status, self._clock() - started, extra={"url": self._url}
        )
        if status == 200:
            try:
                return _answer(response.content)
            except ValueError as exc:
                # A 200 without a completion in it is the server's fault, like a 5xx.
                return _Retry(None, f"malformed completion from the server: {exc}")
        text = self._clean(response.text[:ERROR_EXCERPT])
        cause = f"HTTP {status}: {text}"
        if status in (408, 429) or status >= 500:
            return _Retry(_retry_after(response.headers.get("retry-after")), cause)
        lowered = text.lower()
        if any(hint in lowered for hint in _CONTEXT_HINTS):
            return ContextTooLong(f"the prompt does not fit the model's context: {cause}", 0)
        if status in (400, 422) and any(hint in lowered for hint in _FORMAT_HINTS):
            return FormatRefused(cause, 0)
        if status in (401, 403):
            cause += " (check CARDWRIGHT_LLM_API_KEY and CARDWRIGHT_LLM_AUTH)"
        elif status == 404:
            cause += " (check CARDWRIGHT_LLM_BASE_URL and CARDWRIGHT_LLM_MODEL)"
        return CallFailed(cause, 0)

    def _backoff(self, attempt: int) -> float:
        return self._jitter() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))

    def _pace(self, deadline: float) -> None:
        """Wait for this process's request rate (CARDWRIGHT_LLM_MAX_REQUESTS_PER_S)."""
        rate = self._settings.max_requests_per_s
        if rate <= 0:
            return
        with self._rate_lock:
            now = self._clock()
            start = max(now, self._next_request_at)
            self._next_request_at = start + 1.0 / rate
        if start > now:
            self._sleep(min(start - now, max(0.0, deadline - now)))

    def _clean(self, text: str) -> str:
        return text.replace(self._key, "********") if self._key else text


def _answer(content: bytes) -> Answer:
    document = orjson.loads(content)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    choices = document.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ValueError("no message in the first choice")
    usage = document.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    return Answer(
        content=_str_or_none(message.get("content")),
        finish_reason=_str_or_none(choices[0].get("finish_reason")),
        refusal=_str_or_none(message.get("refusal")),
        prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
        completion_tokens=_int_or_none(usage.get("completion_tokens")),
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _retry_after(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if header is None:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        pass
    else:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
