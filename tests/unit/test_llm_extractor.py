"""The llm extractor against a real HTTP server on 127.0.0.1 (tests/llm_server.py): what it
sends, what it reads, and how it fails: retries with Retry-After and backoff, timeouts, lost
connections, answers that are not JSON or break the schema (never a part of them kept), the
fallback to JSON mode, and the context-length policy. Sleeps are recorded, not slept.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from cardwright.extractors.base import Metered, MeteredExtractor, load_extractor
from cardwright.extractors.isolation import IsolatedRunner
from cardwright.extractors.llm import LlmExtractor
from cardwright.extractors.llm.client import ChatClient
from cardwright.extractors.llm.prompt import custom_prompt, system_prompt
from cardwright.extractors.llm.settings import LlmSettings
from cardwright.schema.cards import CardKind, LiveMessage, TopicSnapshot
from cardwright.schema.errors import ConfigurationError, ExtractionFailed
from cardwright.stack.procs import free_port
from tests.llm_server import LlmServer, Reply, register_entry_point

KEY = "sk-test-" + "k3y" * 4
MODEL = "test-model"


def snapshot(*texts: str) -> TopicSnapshot:
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    messages = tuple(
        LiveMessage(f"m{i}", "user", start + timedelta(seconds=i), text)
        for i, text in enumerate(texts)
    )
    return TopicSnapshot("u1", "t1", "c1", len(texts), messages)


@pytest.fixture
def server() -> Iterator[LlmServer]:
    with LlmServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _close_extractors() -> Iterator[None]:
    """Each extractor's pooled connection is closed after its test (ResourceWarning is an
    error here)."""
    yield
    while MADE:
        MADE.pop().close()


MADE: list[LlmExtractor] = []


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def extractor(
    server: LlmServer | str,
    sleeps: Sleeps | None = None,
    deadline_s: float = 20.0,
    **overrides: object,
) -> LlmExtractor:
    base_url = server if isinstance(server, str) else server.base_url
    settings = LlmSettings(
        base_url=base_url,
        model=MODEL,
        api_key=SecretStr(KEY),
        **overrides,  # type: ignore[arg-type]
    )
    client = ChatClient(settings, sleep=sleeps or Sleeps(), jitter=lambda: 1.0)
    made = LlmExtractor(settings=settings, deadline_s=deadline_s, client=client)
    MADE.append(made)
    return made


def test_one_request_with_the_schema_temperature_0_and_the_seed(server: LlmServer) -> None:
    llm = extractor(server)
    result = llm.extract_metered(snapshot("Book the flight to Lisbon", "Who pays?"))
    assert [(d.kind, d.message_ids) for d in result.drafts] == [
        (CardKind.ACTION_ITEM, ("m0",)),
        (CardKind.QUESTION, ("m1",)),
    ]
    assert llm.extractor_id == "llm@1:test-model"
    assert isinstance(llm, MeteredExtractor)
    [seen] = server.completion_requests
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.body["model"] == MODEL
    assert seen.body["temperature"] == 0
    assert seen.body["seed"] == 0
    assert seen.body["response_format"]["type"] == "json_schema"
    assert seen.body["response_format"]["json_schema"]["strict"] is True
    assert result.usage.calls == 1
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


def test_azure_style_key_header_and_api_version(server: LlmServer) -> None:
    llm = extractor(server, auth="api-key", api_version="2024-10-21")
    llm.extract(snapshot("hello"))
    [seen] = server.completion_requests
    assert seen.headers["api-key"] == KEY
    assert "authorization" not in seen.headers
    assert seen.path.endswith("/chat/completions?api-version=2024-10-21")


def test_an_empty_topic_costs_no_call(server: LlmServer) -> None:
    result = extractor(server).extract_metered(snapshot())
    assert result.drafts == [] and result.usage.calls == 0
    assert server.completion_requests == []


def test_429_waits_as_long_as_retry_after_says(server: LlmServer) -> None:
    sleeps = Sleeps()
    server.then(Reply(429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "3"}))
    result = extractor(server, sleeps).extract_metered(snapshot("hi"))
    assert sleeps.waits == [3.0]
    assert result.usage.calls == 2 and len(result.drafts) == 1


def test_retry_after_as_an_http_date(server: LlmServer) -> None:
    sleeps = Sleeps()
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    server.then(Reply(429, body={}, headers={"Retry-After": when}))
    extractor(server, sleeps).extract(snapshot("hi"))
    [wait] = sleeps.waits
    assert 3.0 <= wait <= 5.0


def test_5xx_are_retried_with_exponential_backoff(server: LlmServer) -> None:
    sleeps = Sleeps()
    server.then(Reply(500, body={}), Reply(502, body={}), Reply(503, body={}))
    result = extractor(server, sleeps).extract_metered(snapshot("hi"))
    assert sleeps.waits == [0.5, 1.0, 2.0]  # jitter pinned at its top
    assert result.usage.calls == 4


def test_a_timeout_is_retried(server: LlmServer) -> None:
    server.then(Reply(hang_s=5.0, content='{"cards": []}'))
    result = extractor(server, request_timeout_s=0.3).extract_metered(snapshot("hi"))
    assert result.usage.calls == 2 and len(result.drafts) == 1


def test_a_refused_connection_fails_the_topic_after_the_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ExtractionFailed) as caught:
        extractor(url, max_retries=2).extract_metered(snapshot("hi"))
    assert "connection failed" in caught.value.cause
    assert caught.value.usage is not None and caught.value.usage.calls == 3
    assert caught.value.usage.total_tokens == 0


def test_giving_up_after_max_retries_of_5xx(server: LlmServer) -> None:
    server.then(*[Reply(500, body={"error": "boom"})] * 3)
    with pytest.raises(ExtractionFailed) as caught:
        extractor(server, max_retries=2).extract(snapshot("hi"))
    assert "HTTP 500" in caught.value.cause and "after 3 requests" in caught.value.cause


def test_a_retry_after_past_the_deadline_fails_at_once(server: LlmServer) -> None:
    sleeps = Sleeps()
    server.then(Reply(429, body={}, headers={"Retry-After": "120"}))
    with pytest.raises(ExtractionFailed) as caught:
        extractor(server, sleeps, deadline_s=10.0).extract(snapshot("hi"))
    assert "deadline" in caught.value.cause
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("Sure! Here are your cards:", "not JSON"),
        (
            '{"cards": [{"kind": "action_item", "title": "x", "body": "", "message_ids": ["m0"]}',
            "not JSON",
        ),
        ('["cards"]', 'no "cards" array'),
        (
            '{"cards": [{"kind": "gossip", "title": "x", "body": "", "message_ids": ["m0"]}]}',
            "breaks the schema",
        ),
        (
            '{"cards": [{"kind": "decision", "title": "", "body": "", "message_ids": ["m0"]}]}',
            "breaks the schema",
        ),
        (
            '{"cards": [{"kind": "decision", "title": "x", "body": "", "message_ids": []}]}',
            "breaks the schema",
        ),
        (
            '{"cards": [{"kind": "decision", "title": "x", "message_ids": ["m0"], "extra": 1}]}',
            "breaks the schema",
        ),
        (
            '{"cards": [{"kind": "decision", "title": "x", "body": "", "message_ids": ["m9"]}]}',
            "outside the topic",
        ),
    ],
)
def test_an_answer_that_is_not_json_or_breaks_the_schema_fails_the_topic(
    server: LlmServer, content: str, says: str
) -> None:
    server.then(Reply(content=content))
    with pytest.raises(ExtractionFailed) as caught:
        extractor(server).extract_metered(snapshot("hi"))
    assert says in caught.value.cause
    usage = caught.value.usage
    assert usage is not None and usage.calls == 1 and usage.total_tokens > 0
    assert len(server.completion_requests) == 1  # a bad answer is the topic's, not retried here


def test_no_cards_from_a_half_good_answer(server: LlmServer) -> None:
    good = {"kind": "decision", "title": "Lisbon", "body": "", "message_ids": ["m0"]}
    bad = {"kind": "decision", "title": "x" * 600, "body": "", "message_ids": ["m0"]}
    server.then(Reply(content=json.dumps({"cards": [good, bad]})))
    with pytest.raises(ExtractionFailed, match="card 1 breaks the schema"):
        extractor(server).extract(snapshot("hi"))


def test_an_answer_cut_off_at_the_token_limit_fails_the_topic(server: LlmServer) -> None:
    server.then(Reply(content='{"cards": [', finish_reason="length"))
    with pytest.raises(ExtractionFailed, match="cut off"):
        extractor(server).extract(snapshot("hi"))


def test_a_server_without_usage_is_charged_the_estimate(server: LlmServer) -> None:
    server.then(Reply(content='{"cards": []}', usage=False))
    llm = extractor(server)
    result = llm.extract_metered(snapshot("hi"))
    assert result.usage.prompt_tokens == llm.estimate(snapshot("hi")).prompt_tokens
    assert result.usage.completion_tokens > 0


def test_structured_outputs_refused_falls_back_to_json_mode_once() -> None:
    with LlmServer(refuse_json_schema=True) as server:
        llm = extractor(server)
        first = llm.extract(snapshot("hi"))
        second = llm.extract(snapshot("hello?"))
        formats = [r.body["response_format"]["type"] for r in server.completion_requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert len(first) == 1 and second[0].kind is CardKind.QUESTION


def test_forced_structured_outputs_refused_is_a_clear_failure() -> None:
    with (
        LlmServer(refuse_json_schema=True) as server,
        pytest.raises(ExtractionFailed, match="json_schema is not supported"),
    ):
        extractor(server, response_format="json_schema").extract(snapshot("hi"))


def test_a_topic_longer_than_the_context_fails_before_any_request(server: LlmServer) -> None:
    """The documented policy (docs/llm.md, "Long topics"): a clear failure, no truncation."""
    long_topic = snapshot(*["word " * 400] * 10)  # ~7,000 estimated tokens
    llm = extractor(server, context_tokens=4096, max_completion_tokens=512)
    with pytest.raises(ExtractionFailed) as caught:
        llm.extract_metered(long_topic)
    assert "topic too long for the model's context" in caught.value.cause
    assert "no request sent" in caught.value.cause
    assert server.completion_requests == []
    assert caught.value.usage is not None and caught.value.usage.total_tokens == 0
    # The same topic fits a larger window.
    assert len(extractor(server, context_tokens=16384).extract(long_topic)) == 10


def test_the_servers_context_error_fails_without_retrying(server: LlmServer) -> None:
    message = "This model's maximum context length is 4096 tokens. However, you requested 9000"
    server.then(Reply(400, body={"error": {"message": message, "code": "context_length_exceeded"}}))
    with pytest.raises(ExtractionFailed, match="does not fit the model's context"):
        extractor(server).extract(snapshot("hi"))
    assert len(server.completion_requests) == 1


def test_a_refused_key_says_what_to_check_and_never_echoes_the_key(server: LlmServer) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    server.then(Reply(401, body=echo))
    with pytest.raises(ExtractionFailed) as caught:
        extractor(server).extract(snapshot("hi"))
    assert "CARDWRIGHT_LLM_API_KEY" in caught.value.cause
    assert KEY not in str(caught.value)
    assert len(server.completion_requests) == 1


def test_the_rate_limit_spaces_requests(server: LlmServer) -> None:
    sleeps = Sleeps()
    llm = extractor(server, sleeps, max_requests_per_s=2.0)
    for _ in range(3):
        llm.extract(snapshot("hi"))
    # The recorded sleeps do not pass time: the second and third requests are booked half a
    # second and a second after the first.
    first, second = sleeps.waits
    assert 0 < first <= 0.5 < second <= 1.0


# --- ids and specs ---------------------------------------------------------------------------


@pytest.fixture
def entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(register_entry_point(str(tmp_path)))


def test_the_id_is_a_spec_that_loads_the_extractor_that_made_it(
    entry_point: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDWRIGHT_LLM_MODEL", "env-model")
    for spec, expected in [
        ("llm", "llm@1:env-model"),
        ("llm@1", "llm@1:env-model"),
        ("llm@1:gpt-4o-mini", "llm@1:gpt-4o-mini"),
    ]:
        loaded = load_extractor(spec)
        assert isinstance(loaded, LlmExtractor)
        MADE.append(loaded)
        assert loaded.extractor_id == expected


def test_no_model_or_an_unknown_prompt_version_is_a_configuration_error(
    entry_point: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CARDWRIGHT_LLM_MODEL", raising=False)
    with pytest.raises(ConfigurationError, match="CARDWRIGHT_LLM_MODEL"):
        load_extractor("llm")
    with pytest.raises(ConfigurationError, match="no llm prompt version '9'"):
        load_extractor("llm@9:m")


def test_an_invalid_setting_names_the_variable_not_the_value(
    entry_point: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDWRIGHT_LLM_MODEL", "m")
    monkeypatch.setenv("CARDWRIGHT_LLM_REQUEST_TIMEOUT_S", "soon-" + KEY)
    with pytest.raises(ConfigurationError) as caught:
        load_extractor("llm")
    assert "CARDWRIGHT_LLM_REQUEST_TIMEOUT_S" in str(caught.value)
    assert KEY not in str(caught.value)


def test_the_extractor_answers_before_the_members_timeout(server: LlmServer) -> None:
    """With a server that hangs, the deadline ends the retries, not the member's kill."""
    server.then(*[Reply(hang_s=5.0, content="{}")] * 5)
    with pytest.raises(ExtractionFailed) as caught:
        extractor(server, deadline_s=1.0, request_timeout_s=0.4).extract(snapshot("hi"))
    assert "deadline" in caught.value.cause
    assert caught.value.usage is not None and 1 <= caught.value.usage.calls <= 3


# --- an operator's prompt file ------------------------------------------------------------------


def test_a_prompt_file_is_sent_with_the_schema_and_versioned_by_its_digest(
    server: LlmServer, tmp_path: Path
) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Cards, please, as JSON:\n<<SCHEMA>>\n", encoding="utf-8")
    llm = extractor(server, prompt_file=prompt)
    llm.extract(snapshot("Book the flight"))
    [seen] = server.completion_requests
    system = seen.body["messages"][0]["content"]
    assert system.startswith("Cards, please, as JSON:\n{") and "<<SCHEMA>>" not in system
    digest = hashlib.sha256(system.encode()).hexdigest()[:8]
    assert llm.extractor_id == f"llm@custom-{digest}:test-model"

    prompt.write_text("Cards, please, as JSON (edited):\n<<SCHEMA>>\n", encoding="utf-8")
    edited = extractor(server, prompt_file=prompt)
    assert edited.prompt_version.startswith("custom-")
    assert edited.extractor_id not in (llm.extractor_id, "llm@1:test-model")


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1).filter(str.strip), st.text(min_size=1).filter(str.strip))
def test_a_prompt_files_version_is_a_function_of_its_content(first: str, second: str) -> None:
    """The same prompt is always the same id (a replay spends nothing); another prompt is
    another id (a replay re-derives)."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        a, b, again = (Path(directory) / name for name in ("a", "b", "again"))
        for path, text in ((a, first), (b, second), (again, first)):
            path.write_text(text, encoding="utf-8")
        assert custom_prompt(a) == custom_prompt(again)
        assert (custom_prompt(a)[0] == custom_prompt(b)[0]) == (first == second)


def test_a_custom_id_loads_only_with_the_prompt_that_made_it(
    entry_point: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Mine.\n<<SCHEMA>>", encoding="utf-8")
    monkeypatch.setenv("CARDWRIGHT_LLM_MODEL", "m")
    monkeypatch.setenv("CARDWRIGHT_LLM_PROMPT_FILE", str(prompt))
    loaded = load_extractor("llm")
    MADE.append(cast(LlmExtractor, loaded))
    made_id = loaded.extractor_id
    assert made_id.startswith("llm@custom-") and made_id.endswith(":m")
    again = load_extractor(made_id)  # the stored id is a spec while the file is unchanged
    MADE.append(cast(LlmExtractor, again))
    assert again.extractor_id == made_id
    packaged = load_extractor("llm@1")  # a spec naming a packaged version ignores the file
    MADE.append(cast(LlmExtractor, packaged))
    assert packaged.extractor_id == "llm@1:m"
    assert cast(LlmExtractor, packaged).system == system_prompt("1")

    prompt.write_text("Mine, edited.\n<<SCHEMA>>", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="the file changed"):
        load_extractor(made_id)
    monkeypatch.delenv("CARDWRIGHT_LLM_PROMPT_FILE")
    with pytest.raises(ConfigurationError, match="set CARDWRIGHT_LLM_PROMPT_FILE"):
        load_extractor(made_id)


def test_an_unreadable_or_empty_prompt_file_is_a_configuration_error(
    server: LlmServer, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    for path, why in [
        (tmp_path / "missing.txt", "cannot read"),
        (empty, "empty"),
        (binary, "UTF-8"),
    ]:
        with pytest.raises(ConfigurationError, match=f"CARDWRIGHT_LLM_PROMPT_FILE: .*{why}"):
            extractor(server, prompt_file=path)


# --- in the member's child process -------------------------------------------------------------


def test_by_name_in_a_child_process_the_tokens_come_back_with_cards_and_failures(
    entry_point: None, server: LlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CARDWRIGHT_EXTRACTOR=llm: the settings reach the child through its environment, and
    usage crosses the pipe both with the drafts and with a failure."""
    monkeypatch.setenv("CARDWRIGHT_LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("CARDWRIGHT_LLM_MODEL", MODEL)
    monkeypatch.setenv("CARDWRIGHT_LLM_API_KEY", KEY)
    runner = IsolatedRunner("llm")
    try:
        result = runner.run(snapshot("hi", "why?"), timeout_s=30)
        assert isinstance(result, Metered)
        assert len(result.drafts) == 2 and result.usage.calls == 1
        server.then(Reply(content="not json"))
        with pytest.raises(ExtractionFailed) as caught:
            runner.run(snapshot("hi"), timeout_s=30)
        assert "not JSON" in caught.value.cause
        assert caught.value.usage is not None and caught.value.usage.total_tokens > 0
    finally:
        runner.close()
        assert isinstance(runner.extractor, LlmExtractor)
        runner.extractor.close()
    assert runner.extractor.extractor_id == "llm@1:test-model"
