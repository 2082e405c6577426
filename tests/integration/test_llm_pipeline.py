"""The llm extractor end to end: Kafka, PostgreSQL and `cardwright consume`, with the model
served by tests/llm_server.py on 127.0.0.1.

What it costs is recorded (extract_runs, extract_failures, `cardwright runs`); a replay with the
same extractor id spends no token; a new extractor id (here a new model: a new prompt version
changes the id the same way) re-derives every topic exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cardwright.storage.tables import extract_failures, extract_runs
from tests.integration.conftest import Pipeline
from tests.integration.support import consume_until_idle, event, publish
from tests.llm_server import LlmServer, one_card_per_message, register_entry_point

pytestmark = pytest.mark.slow

TOPICS = 6
CLI_TIMEOUT_S = 120


def answer(request: dict[str, Any]) -> str:
    """The test server's answer; a topic whose text says BROKEN gets an answer that is no JSON."""
    if "BROKEN" in request["messages"][-1]["content"]:
        return "I'm sorry, as a language model"
    return one_card_per_message(request)


@pytest.fixture
def model_server() -> Iterator[LlmServer]:
    with LlmServer(answer=answer) as server:
        yield server


def llm_env(pipeline: Pipeline, server: LlmServer, tmp_path: Path, model: str) -> dict[str, str]:
    entry_points = register_entry_point(str(tmp_path / "entry-points"))
    path = os.pathsep.join(p for p in (entry_points, os.environ.get("PYTHONPATH")) if p)
    return pipeline.env(
        PYTHONPATH=path,
        CARDWRIGHT_EXTRACTOR="llm",
        CARDWRIGHT_EXTRACT_ATTEMPTS="2",
        CARDWRIGHT_LLM_BASE_URL=server.base_url,
        CARDWRIGHT_LLM_MODEL=model,
        CARDWRIGHT_LLM_API_KEY="sk-e2e-key",
    )


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cardwright", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (args, done.stderr[-3000:])
    return done.stdout


def test_cost_is_recorded_replays_are_free_and_a_new_model_rederives_each_topic_once(
    pipeline: Pipeline, model_server: LlmServer, tmp_path: Path
) -> None:
    events = [
        event(f"t{n}", f"t{n}-m{i}", f"Message {i} of topic {n}{'?' if i else ''}", minute=i)
        for n in range(TOPICS)
        for i in range(2)
    ]
    events.append(event("bad", "bad-m0", "BROKEN answer ahead"))
    publish(pipeline.bootstrap, pipeline.topic, events)
    env = llm_env(pipeline, model_server, tmp_path, "model-a")

    consume_until_idle(env)
    # Each good topic once; the broken one twice (CARDWRIGHT_EXTRACT_ATTEMPTS=2), then recorded.
    assert len(model_server.completion_requests) == TOPICS + 2
    with pipeline.engine.connect() as c:
        runs = c.execute(select(extract_runs)).all()
        failures = c.execute(select(extract_failures)).all()
    assert {r.extractor_id for r in runs} == {"llm@1:model-a"}
    assert len(runs) == TOPICS
    assert all(r.model == "model-a" and r.prompt_tokens > 0 for r in runs)
    assert all(r.completion_tokens > 0 and r.card_count == 2 for r in runs)
    [failure] = failures
    assert failure.topic_id == "bad" and failure.attempts == 2
    assert failure.prompt_tokens > 0 and failure.completion_tokens > 0  # both attempts' tokens

    shown = json.loads(cli(env, "runs", "--user", "u1", "--topic", "t0", "--json"))
    t0 = next(r for r in runs if r.topic_id == "t0")
    assert shown[0]["model"] == "model-a" and shown[0]["prompt_tokens"] == t0.prompt_tokens
    table = cli(env, "runs", "--user", "u1", "--topic", "t0")
    tokens = f"{t0.prompt_tokens} prompt + {t0.completion_tokens} completion tokens"
    assert f"1 run(s): {tokens}" in table

    # A replay with the same model and prompt: every topic is a no-op, no request at all.
    cli(env, "replay", "--group", pipeline.group, "--to-earliest")
    before = len(model_server.completion_requests)
    consume_until_idle(env)
    asked = model_server.completion_requests[before:]
    # Only the failed topic is tried again (its cards never came from this input).
    assert all("BROKEN" in r.body["messages"][-1]["content"] for r in asked)

    # A new model is a new extractor id: the replay re-derives each topic exactly once.
    env_b = llm_env(pipeline, model_server, tmp_path, "model-b")
    cli(env_b, "replay", "--group", pipeline.group, "--to-earliest")
    before = len(model_server.completion_requests)
    consume_until_idle(env_b)
    asked = model_server.completion_requests[before:]
    per_topic = Counter(json.loads(r.body["messages"][-1]["content"])[0]["id"] for r in asked)
    good = {k: v for k, v in per_topic.items() if not k.startswith("bad")}
    assert good == {f"t{n}-m0": 1 for n in range(TOPICS)}
    assert {r.body["model"] for r in asked} == {"model-b"}
    with pipeline.engine.connect() as c:
        ids = Counter(r.extractor_id for r in c.execute(select(extract_runs)).all())
    assert ids == {"llm@1:model-a": TOPICS, "llm@1:model-b": TOPICS}

    # What would a third model cost? A dry run estimates it and sends nothing.
    before = len(model_server.completion_requests)
    dry = json.loads(
        cli(
            env_b,
            *("reextract", "--since", "2000-01-01T00:00:00Z", "--dry-run", "--json"),
            *("--extractor", "llm@1:model-c"),
        )
    )
    assert len(model_server.completion_requests) == before
    assert dry["extractor"] == "llm@1:model-c"
    assert dry["estimated_tokens"]["calls"] == TOPICS + 1  # the failed topic too
    assert dry["estimated_tokens"]["prompt"] > 0
    assert all(t["status"] == "new" and "estimated_tokens" in t for t in dry["topics"])
