"""The bench code runs on a tiny load against real Kafka and PostgreSQL (no figure is asserted)."""

from __future__ import annotations

from sqlalchemy import text

from bench import floor
from bench.environment import Stack
from bench.loadgen import LoadSpec, generate, publish_backlog
from bench.pipeline import Target, replay, throughput
from bench.references import naive, raw_consume
from tests.conftest import Services
from tests.integration.conftest import Pipeline

TINY = LoadSpec(users=2, topics=6, messages_per_topic=3, edit_rate=0.3, delete_rate=0.2)


def test_throughput_and_replay_measure_a_tiny_backlog_to_the_end(
    pipeline: Pipeline, services: Services
) -> None:
    events = generate(TINY)
    publish_backlog(pipeline.bootstrap, pipeline.topic, events)
    target = Target(
        Stack(pipeline.bootstrap, services.admin_database_url),
        pipeline.topic,
        pipeline.database_url,
        pipeline.group,
    )

    first = throughput(target, 1, len(events), TINY.topics, timeout_s=120)
    assert first["events"] == len(events)
    assert first["seconds"] > 0
    with pipeline.engine.connect() as connection:
        current = connection.execute(
            text("SELECT count(*) FROM topics WHERE cards_state_version = state_version")
        ).scalar_one()
        messages = connection.execute(text("SELECT count(*) FROM messages")).scalar_one()
    assert current == TINY.topics  # "done" meant every topic's cards were current
    assert messages == TINY.topics * TINY.messages_per_topic
    assert first["runs"] >= TINY.topics  # every topic was extracted at least once

    alone = floor.measure(pipeline.database_url, len(events))
    assert alone["topics"] == TINY.topics
    assert alone["events_per_s"] is not None and alone["events_per_s"] > 0

    again = replay(target, len(events), TINY.topics, timeout_s=120)
    assert again["new_runs"] == 0  # a replay with the same extractor derives nothing new


def test_the_raw_reader_and_the_naive_consumer_read_the_same_backlog(pipeline: Pipeline) -> None:
    events = generate(TINY)
    publish_backlog(pipeline.bootstrap, pipeline.topic, events)

    raw = raw_consume(pipeline.bootstrap, pipeline.topic, len(events), timeout_s=60)
    assert raw["events"] == len(events)

    slow = naive(pipeline.bootstrap, pipeline.topic, pipeline.database_url, 8, budget_s=60)
    assert slow["events"] == 8
    with pipeline.engine.connect() as connection:
        runs = connection.execute(text("SELECT count(*) FROM extract_runs")).scalar_one()
    assert runs >= 1  # the naive consumer extracts after every event
