"""The llm extractor end to end: Kafka, PostgreSQL and `cardwright consume`, with the model
served by tests/llm_server.py on 127.0.0.1.

What it costs is recorded (extract_runs, extract_failures, `cardwright runs`); a replay with the
same extractor id spends no token; a new extractor id (a new model, or an edited prompt file)
re-derives every topic exactly once. And the issue's scale: 200 topics at 1-2 s a call with 16
slots finish in about 200 x 1.5 / 16 s, every card and token recorded; the time is printed, and
asserted only to show the calls overlapped (the machine is shared: no tight timing asserts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cardwright.storage.tables import cards, extract_failures, extract_runs
from tests.integration.conftest import Pipeline
from tests.integration.support import consume_until_idle, event, publish
from tests.llm_server import (
    LlmServer,
    Seen,
    one_card_per_message,
    register_entry_point,
    spread_latency,
    tokens,
)

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


def llm_env(
    pipeline: Pipeline, server: LlmServer, tmp_path: Path, model: str, **extra: str
) -> dict[str, str]:
    entry_points = register_entry_point(str(tmp_path / "entry-points"))
    path = os.pathsep.join(p for p in (entry_points, os.environ.get("PYTHONPATH")) if p)
    return pipeline.env(
        PYTHONPATH=path,
        CARDWRIGHT_EXTRACTOR="llm",
        CARDWRIGHT_EXTRACT_ATTEMPTS="2",
        CARDWRIGHT_LLM_BASE_URL=server.base_url,
        CARDWRIGHT_LLM_MODEL=model,
        CARDWRIGHT_LLM_API_KEY="sk-e2e-key",
        **extra,
    )


def first_message(seen: Seen) -> str:
    """The id of the first message of the topic a request asked about."""
    return str(json.loads(seen.body["messages"][-1]["content"])[0]["id"])


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


def test_an_edited_prompt_file_rederives_each_topic_once_and_an_unchanged_one_spends_nothing(
    pipeline: Pipeline, model_server: LlmServer, tmp_path: Path
) -> None:
    """ "A change of prompt version re-derives each topic once", with the operator's prompt file
    (CARDWRIGHT_LLM_PROMPT_FILE) as the change: its digest is the version in the id."""
    events = [
        event(f"t{n}", f"t{n}-m{i}", f"Message {i} of topic {n}", minute=i)
        for n in range(TOPICS)
        for i in range(2)
    ]
    publish(pipeline.bootstrap, pipeline.topic, events)
    packaged = llm_env(pipeline, model_server, tmp_path, "model-a")
    consume_until_idle(packaged)
    assert len(model_server.completion_requests) == TOPICS

    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Our own prompt: cards as JSON.\n<<SCHEMA>>\n", encoding="utf-8")
    custom = llm_env(
        pipeline, model_server, tmp_path, "model-a", CARDWRIGHT_LLM_PROMPT_FILE=str(prompt)
    )

    def replay(env: dict[str, str]) -> list[Seen]:
        cli(env, "replay", "--group", pipeline.group, "--to-earliest")
        before = len(model_server.completion_requests)
        consume_until_idle(env)
        return model_server.completion_requests[before:]

    asked = replay(custom)
    assert Counter(first_message(r) for r in asked) == {f"t{n}-m0": 1 for n in range(TOPICS)}
    assert all(r.body["messages"][0]["content"].startswith("Our own prompt") for r in asked)
    with pipeline.engine.connect() as c:
        runs = c.execute(select(extract_runs)).all()
    ids = Counter(r.extractor_id for r in runs)
    [custom_id] = set(ids) - {"llm@1:model-a"}
    assert custom_id.startswith("llm@custom-") and custom_id.endswith(":model-a")
    assert ids == {"llm@1:model-a": TOPICS, custom_id: TOPICS}  # one new run per topic
    assert all(r.prompt_tokens > 0 for r in runs if r.extractor_id == custom_id)

    # The same prompt again (a restart, a replay): no request, so no token.
    assert replay(custom) == []
    with pipeline.engine.connect() as c:
        assert len(c.execute(select(extract_runs)).all()) == 2 * TOPICS

    # Back to the packaged prompt: the cards follow the id, so each topic is derived once more,
    # under its first run (no new run).
    asked = replay(packaged)
    assert Counter(first_message(r) for r in asked) == {f"t{n}-m0": 1 for n in range(TOPICS)}
    with pipeline.engine.connect() as c:
        assert len(c.execute(select(extract_runs)).all()) == 2 * TOPICS


# The scale: 200 topics, 1-2 s a call (1.5 s on average), 16 slots.
SCALE_TOPICS = 200
SCALE_SLOTS = 16
LATENCY_S = (1.0, 2.0)


@pytest.fixture
def slow_model_server() -> Iterator[LlmServer]:
    with LlmServer(spread_latency(*LATENCY_S)) as server:
        yield server


def test_200_topics_at_1_to_2_s_a_call_run_16_at_a_time_with_every_card_and_token_recorded(
    pipeline: Pipeline, slow_model_server: LlmServer, tmp_path: Path
) -> None:
    server = slow_model_server
    texts = {
        f"t{n}": [f"Topic {n}: book the room", f"Topic {n}: who brings the slides?"]
        for n in range(SCALE_TOPICS)
    }
    publish(
        pipeline.bootstrap,
        pipeline.topic,
        [
            event(topic, f"{topic}-m{i}", text, user=f"u{n % 7}", minute=i)
            for n, (topic, pair) in enumerate(texts.items())
            for i, text in enumerate(pair)
        ],
    )
    env = llm_env(
        pipeline,
        server,
        tmp_path,
        "model-a",
        CARDWRIGHT_EXTRACT_CONCURRENCY=str(SCALE_SLOTS),
        CARDWRIGHT_EXTRACT_TIMEOUT_S="30",
    )

    started = time.time()  # the server's clock
    consume_until_idle(env)
    wall_s = time.time() - started

    asked = server.completion_requests
    by_topic = {first_message(r).rpartition("-m")[0]: r for r in asked}
    assert len(asked) == SCALE_TOPICS and set(by_topic) == set(texts)  # each topic once
    with pipeline.engine.connect() as c:
        runs = {r.topic_id: r for r in c.execute(select(extract_runs)).all()}
        stored = c.execute(
            select(cards.c.topic_id, cards.c.kind, cards.c.title, cards.c.message_ids).order_by(
                cards.c.topic_id, cards.c.position
            )
        ).all()
    found: dict[str, list[tuple[str, str, list[str]]]] = {}
    for row in stored:
        found.setdefault(row.topic_id, []).append((row.kind, row.title, row.message_ids))
    assert found == {
        topic: [
            ("action_item", pair[0], [f"{topic}-m0"]),
            ("question", pair[1], [f"{topic}-m1"]),
        ]
        for topic, pair in texts.items()
    }
    # Each run carries what the server reported for its request.
    assert set(runs) == set(texts)
    for topic, run in runs.items():
        request = by_topic[topic].body
        prompt = "".join(m["content"] for m in request["messages"])
        assert (run.extractor_id, run.model) == ("llm@1:model-a", "model-a")
        assert run.prompt_tokens == tokens(prompt)
        assert run.completion_tokens == tokens(one_card_per_message(request))

    latency = spread_latency(*LATENCY_S)
    model_s = max(r.at + latency(r.body) for r in asked) - min(r.at for r in asked)
    mean_latency = sum(latency(r.body) for r in asked) / len(asked)
    ideal_s = SCALE_TOPICS * sum(LATENCY_S) / 2 / SCALE_SLOTS
    print(
        f"\n{SCALE_TOPICS} topics, {LATENCY_S[0]}-{LATENCY_S[1]} s a call (mean "
        f"{mean_latency:.2f} s), {SCALE_SLOTS} slots: model calls took {model_s:.1f} s from the "
        f"first to the last answer (ideal {ideal_s:.2f} s, {ideal_s / model_s:.2f} of it); "
        f"`consume --until-idle 2` {wall_s:.1f} s in all, the first call "
        f"{min(r.at for r in asked) - started:.1f} s after its start; at most {server.peak} "
        "calls at once"
    )
    assert server.peak <= SCALE_SLOTS  # the pool's bound
    # Calls overlapped: one at a time would take 300 s. Generous, for a shared machine.
    assert model_s < SCALE_TOPICS * sum(LATENCY_S) / 2 / 4
