"""`cardwright reextract`: the dry run shows the right card diff and writes nothing; the real
run makes one run per changed topic and none for unchanged ones; Kafka offsets stay put."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select, update

from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import TopicSnapshot
from cardwright.schema.events import MessageEvent
from cardwright.storage.tables import extract_failures, extract_runs, messages, topics
from tests.integration.conftest import Pipeline
from tests.integration.storage_support import persist
from tests.integration.support import (
    committed_offsets,
    consume_until_idle,
    event,
    publish,
    read_state,
    start_consumer,
    stop,
    wait_for,
)
from tests.integration.workload import expected_hashes, expected_live

pytestmark = pytest.mark.slow

SINCE = "2000-01-01T00:00:00Z"  # every topic
USER = "u1"


def initial_events() -> list[MessageEvent]:
    return [
        event("ta", "a0", "We decided to use PostgreSQL for the ledger.", minute=0),
        event("ta", "a1", "Should we move the launch to March 14?", minute=1),
        event("tb", "b0", "I'll send the draft to Alice on Friday.", minute=0),
        event("tb", "b1", "Remember to ask Tom about the budget.", minute=1),
        event("tc", "c0", "Let's meet Maria in Lisbon next week.", minute=0),
    ]


# What an operator changes under the cards (a repaired import, say), message by message.
EDITS = {
    "a1": "We agreed to ship the beta on 2026-12-01.",
    "b1": "Remember to ask Alice about the budget.",
}


def edited(events: list[MessageEvent]) -> list[MessageEvent]:
    return [
        e.model_copy(update={"text": EDITS[e.message_id]}) if e.message_id in EDITS else e
        for e in events
    ]


def model_cards(
    events: list[MessageEvent],
) -> dict[str, dict[tuple[str, str], tuple[str, list[str]]]]:
    """topic -> {(kind, title): (body, message_ids)} as the rules extractor derives them."""
    result: dict[str, dict[tuple[str, str], tuple[str, list[str]]]] = {}
    for (_user, topic), live in expected_live(events).items():
        snapshot = TopicSnapshot(USER, topic, "c1", 0, tuple(live))
        drafts = RulesExtractor().extract(snapshot)
        result[topic] = {(d.kind.value, d.title): (d.body, list(d.message_ids)) for d in drafts}
    return result


def reextract(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardwright", "reextract", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        rows = c.execute(
            select(extract_runs.c.topic_id, func.count()).group_by(extract_runs.c.topic_id)
        ).all()
    return {str(topic): int(count) for topic, count in rows}


def edit_in_database(engine: Engine) -> None:
    with engine.begin() as c:
        for message_id, text in EDITS.items():
            c.execute(
                update(messages)
                .where(messages.c.user_id == USER, messages.c.message_id == message_id)
                .values(text=text)
            )


def test_dry_run_shows_the_card_diff_and_the_real_run_makes_one_run_per_changed_topic(
    pipeline: Pipeline,
) -> None:
    events = initial_events()
    publish(pipeline.bootstrap, pipeline.topic, events)
    env = pipeline.env()
    consume_until_idle(env)
    offsets = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)
    edit_in_database(pipeline.engine)
    before_state, before_runs = read_state(pipeline.engine), run_counts(pipeline.engine)
    assert before_runs == {"ta": 1, "tb": 1, "tc": 1}

    dry = reextract(env, "--since", SINCE, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    document = json.loads(dry.stdout)
    assert document["dry_run"] is True
    by_topic = {t["topic_id"]: t for t in document["topics"]}
    assert by_topic["tc"]["status"] == "unchanged"
    old, new = model_cards(events), model_cards(edited(events))
    for topic in ("ta", "tb"):
        shown = by_topic[topic]
        assert shown["status"] == "new"
        added = {(c["kind"], c["title"]) for c in shown["added"]}
        removed = {(c["kind"], c["title"]) for c in shown["removed"]}
        changed = {(c["after"]["kind"], c["after"]["title"]) for c in shown["changed"]}
        assert added == new[topic].keys() - old[topic].keys()
        assert removed == old[topic].keys() - new[topic].keys()
        assert changed == {
            k for k in old[topic].keys() & new[topic].keys() if old[topic][k] != new[topic][k]
        }
    # The edits were chosen so the diff has all three kinds of change.
    assert by_topic["tb"]["changed"] and by_topic["ta"]["added"] and by_topic["tb"]["removed"]
    assert read_state(pipeline.engine) == before_state, "a dry run writes nothing"
    assert run_counts(pipeline.engine) == before_runs

    text = reextract(env, "--since", SINCE, "--dry-run")
    assert text.returncode == 0, text.stderr
    assert "u1/tb: new (+" in text.stdout and "dry run, nothing written" in text.stdout
    assert "  ~ person: Alice" in text.stdout and "u1/tc" not in text.stdout

    real = reextract(env, "--since", SINCE, "--json")
    assert real.returncode == 0, real.stderr
    statuses = {t["topic_id"]: t["status"] for t in json.loads(real.stdout)["topics"]}
    assert statuses == {"ta": "new", "tb": "new", "tc": "unchanged"}
    assert run_counts(pipeline.engine) == {"ta": 2, "tb": 2, "tc": 1}
    state = read_state(pipeline.engine)
    assert {(u, t): h for (u, t, h) in state.current} == expected_hashes(edited(events))
    got: dict[object, set[tuple[object, object]]] = {}
    for _user, stored_topic, _card_id, _pos, kind, title in state.cards:
        got.setdefault(stored_topic, set()).add((kind, title))
    assert got == {topic: set(cards) for topic, cards in new.items()}

    again = reextract(env, "--since", SINCE, "--json")
    assert {t["status"] for t in json.loads(again.stdout)["topics"]} == {"unchanged"}
    assert run_counts(pipeline.engine) == {"ta": 2, "tb": 2, "tc": 1}
    assert committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4) == offsets


def test_one_topic_and_failed_selections(pipeline: Pipeline) -> None:
    events = initial_events()
    publish(pipeline.bootstrap, pipeline.topic, events)
    env = pipeline.env()
    consume_until_idle(env)

    one = reextract(env, "--user", USER, "--topic", "tc", "--json")
    assert one.returncode == 0, one.stderr
    assert [t["status"] for t in json.loads(one.stdout)["topics"]] == ["unchanged"]
    missing = reextract(env, "--user", USER, "--topic", "nope")
    assert missing.returncode == 1 and "u1/nope: missing" in missing.stdout

    # A failure recorded after tc's cards (its input changed, the extractor failed) selects
    # tc for --failed; recomputing it makes cards newer than the failure, which ends that.
    with pipeline.engine.begin() as c:
        c.execute(
            update(messages)
            .where(messages.c.user_id == USER, messages.c.message_id == "c0")
            .values(text="We decided to meet Maria in Porto.")
        )
        state_version = c.execute(
            select(topics.c.state_version).where(topics.c.topic_id == "tc")
        ).scalar_one()
        c.execute(
            insert(extract_failures).values(
                user_id=USER,
                topic_id="tc",
                state_version=state_version,
                extractor_id="rules@1",
                error="timed out",
                attempts=3,
                consumer_instance="test",
            )
        )
    listed = reextract(env, "--failed", "--dry-run", "--json")
    assert [t["topic_id"] for t in json.loads(listed.stdout)["topics"]] == ["tc"]
    fixed = reextract(env, "--failed", "--json")
    assert [t["status"] for t in json.loads(fixed.stdout)["topics"]] == ["new"]
    after = reextract(env, "--failed", "--json")
    assert json.loads(after.stdout)["topics"] == []


def test_usage_errors_exit_2(pipeline: Pipeline) -> None:
    env = pipeline.env()
    for args in (
        [],
        ["--since", SINCE, "--failed"],
        ["--topic", "ta"],
        ["--since", "2026-01-01"],
        ["--since", "yesterday"],
    ):
        result = reextract(env, *args)
        assert result.returncode == 2, (args, result.stderr)


def test_since_compares_the_database_clock_not_the_events_occurred_at(
    pipeline: Pipeline,
) -> None:
    """An event that says it happened 25 years ago but was stored a moment ago is selected by
    ``--since`` one minute ago: both sides of the comparison are the database's clock
    (messages.updated_at, cards_updated_at), never the producer's occurred_at."""
    publish(pipeline.bootstrap, pipeline.topic, initial_events())
    env = pipeline.env()
    consume_until_idle(env)
    with pipeline.engine.begin() as c:
        # As if every message was stored, and every card set made, an hour ago.
        c.execute(update(messages).values(updated_at=func.now() - timedelta(hours=1)))
        c.execute(update(topics).values(cards_updated_at=func.now() - timedelta(hours=1)))
        since = c.execute(select(func.now())).scalar_one() - timedelta(minutes=1)
    late = event("tb", "b2", "I'll book the venue in Paris.", minute=2)
    persist(
        pipeline.engine, [late.model_copy(update={"occurred_at": datetime(2001, 1, 1, tzinfo=UTC)})]
    )

    selected = reextract(env, "--since", since.isoformat(), "--dry-run", "--json")
    assert selected.returncode == 0, selected.stderr
    assert [t["topic_id"] for t in json.loads(selected.stdout)["topics"]] == ["tb"]
    help_text = reextract(env, "--help").stdout
    assert "database's clock" in help_text


def test_another_extractor_than_the_cards_is_refused_while_a_group_runs(
    pipeline: Pipeline,
) -> None:
    """With a group running on rules@1, `reextract --extractor rules@2` would fight it (the group
    re-derives a topic with rules@1 on its next event): refused, exit 2, one line saying why
    and what to do; nothing written. A dry run may preview it; the flag allows it."""
    events = initial_events()
    publish(pipeline.bootstrap, pipeline.topic, events)
    env = pipeline.env()
    group = start_consumer(env)
    try:
        wait_for(lambda: _hashes(pipeline.engine) == expected_hashes(events), timeout=120)
        before_state, before_runs = read_state(pipeline.engine), run_counts(pipeline.engine)

        refused = reextract(env, "--since", SINCE, "--extractor", "rules@2")
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert "rules@1" in lines[0] and "rules@2" in lines[0]
        assert "CARDWRIGHT_EXTRACTOR=rules@2" in lines[0] and "replay" in lines[0]
        assert "--allow-other-extractor" in lines[0]
        assert read_state(pipeline.engine) == before_state
        assert run_counts(pipeline.engine) == before_runs

        same = reextract(env, "--since", SINCE, "--extractor", "rules@1", "--json")
        assert same.returncode == 0, same.stderr
        preview = reextract(env, "--since", SINCE, "--extractor", "rules@2", "--dry-run", "--json")
        assert preview.returncode == 0, preview.stderr
        assert {t["status"] for t in json.loads(preview.stdout)["topics"]} == {"new"}
        assert run_counts(pipeline.engine) == before_runs

        allowed = reextract(
            env, "--since", SINCE, "--extractor", "rules@2", "--allow-other-extractor", "--json"
        )
        assert allowed.returncode == 0, allowed.stderr
        assert {t["status"] for t in json.loads(allowed.stdout)["topics"]} == {"new"}
        assert _hashes(pipeline.engine) == expected_hashes(events, "rules@2")
        assert group.poll() is None
    finally:
        stop(group)


def _hashes(engine: Engine) -> dict[tuple[object, object], object]:
    return {(u, t): h for (u, t, h) in read_state(engine).current}
