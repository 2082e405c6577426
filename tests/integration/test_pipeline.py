"""The card pipeline end to end on real Kafka and PostgreSQL, run by `cardwright consume`."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cardwright.schema.events import MessageEvent
from cardwright.storage.queries import cards_by_conversation, cards_by_topic
from cardwright.storage.tables import extract_runs, messages
from tests.integration.conftest import Pipeline
from tests.integration.support import (
    committed_offsets,
    consume_until_idle,
    event,
    publish,
    read_state,
    start_consumer,
    stop,
    wait_for,
    wait_group_empty,
)
from tests.integration.workload import conversation_events, expected_cards, expected_hashes

pytestmark = pytest.mark.slow

# The consumer group protocols cardwright supports (CARDWRIGHT_GROUP_PROTOCOL): the rebalance
# tests run under both.
GROUP_PROTOCOLS = ["classic", "consumer"]


def replay_to_earliest(p: Pipeline) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cardwright",
            "replay",
            "--group",
            p.group,
            "--topic",
            p.topic,
            "--to-earliest",
            "--bootstrap-servers",
            p.bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def assert_matches_model(p: Pipeline, events: list[MessageEvent], version: str = "1") -> None:
    state = read_state(p.engine)
    hashes = expected_hashes(events, f"rules@{version}")
    assert {(u, t): h for (u, t, h) in state.current} == hashes
    cards = expected_cards(events, version)
    got: dict[tuple[object, object], list[tuple[object, object]]] = {}
    for user, topic, _card_id, _pos, kind, title in state.cards:
        got.setdefault((user, topic), []).append((kind, title))
    assert got == {k: v for k, v in cards.items() if v}
    keys = state.run_keys()
    assert len(keys) == len(set(keys)), "duplicate runs"


def test_one_consumer_derives_every_topics_cards_from_its_live_messages(pipeline: Pipeline) -> None:
    events = conversation_events(seed=1)
    publish(pipeline.bootstrap, pipeline.topic, events)
    consume_until_idle(pipeline.env())
    assert_matches_model(pipeline, events)


def test_replaying_with_the_same_extractor_creates_no_run_and_changes_no_card(
    pipeline: Pipeline,
) -> None:
    events = conversation_events(seed=2)
    publish(pipeline.bootstrap, pipeline.topic, events)
    consume_until_idle(pipeline.env())
    before = read_state(pipeline.engine)
    replay_to_earliest(pipeline)
    consume_until_idle(pipeline.env())
    after = read_state(pipeline.engine)
    assert after.runs == before.runs
    assert after.cards == before.cards  # same card ids, positions, kinds and titles


def test_replaying_with_a_new_extractor_version_rederives_with_one_new_run_per_topic(
    pipeline: Pipeline,
) -> None:
    events = conversation_events(seed=3)
    publish(pipeline.bootstrap, pipeline.topic, events)
    consume_until_idle(pipeline.env())
    before = read_state(pipeline.engine)
    replay_to_earliest(pipeline)
    consume_until_idle(pipeline.env(CARDWRIGHT_EXTRACTOR="rules@2"))
    after = read_state(pipeline.engine)
    topics = {(u, t) for (u, t, _h) in before.current}
    new_runs = [r for r in after.runs if r[3] == "rules@2"]
    assert sorted((r[0], r[1]) for r in new_runs) == sorted(topics)
    assert len(after.runs) == len(before.runs) + len(topics)
    assert_matches_model(pipeline, events, version="2")
    assert {c[2] for c in after.cards}.isdisjoint({c[2] for c in before.cards})


@pytest.mark.parametrize("protocol", GROUP_PROTOCOLS)
def test_two_members_of_one_group_and_a_second_group_end_like_one_consumer(
    pipeline: Pipeline, database_url: str, kafka_bootstrap: str, tmp_path: Path, protocol: str
) -> None:
    """Same database: group A with two members, and group B, all at once; then compare."""
    events = conversation_events(seed=4, users=3)
    publish(pipeline.bootstrap, pipeline.topic, events)
    env_a = pipeline.env(CARDWRIGHT_GROUP_PROTOCOL=protocol)
    env_b = pipeline.env(
        CARDWRIGHT_GROUP_ID=pipeline.group + "-b", CARDWRIGHT_GROUP_PROTOCOL=protocol
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cardwright", "consume", "--until-idle", "3"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in (env_a, env_a, env_b)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
    assert_matches_model(pipeline, events)
    state = read_state(pipeline.engine)
    assert len(state.cards) == len({(c[0], c[1], c[2]) for c in state.cards}), "duplicate cards"


def test_sigkill_between_card_delete_and_insert_keeps_the_previous_complete_set(
    pipeline: Pipeline,
) -> None:
    first = [
        event("t1", "m1", "I'll send the draft to Alice on Friday."),
        event("t1", "m2", "We decided to use PostgreSQL.", minute=1),
    ]
    publish(pipeline.bootstrap, pipeline.topic, first)
    consume_until_idle(pipeline.env())
    before = cards_by_topic(pipeline.engine, "u1", "t1")
    assert before is not None and before.cards

    edit = [event("t1", "m2", "We decided to use SQLite instead.", revision=1, minute=1)]
    publish(pipeline.bootstrap, pipeline.topic, edit)
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.member", "consume", "--until-idle", "30"],
        env=pipeline.env(CARDWRIGHT_FAILPOINT="replace_after_delete"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL
    during = cards_by_topic(pipeline.engine, "u1", "t1")
    assert during is not None
    assert during.cards == before.cards and during.run_id == before.run_id

    consume_until_idle(pipeline.env())
    assert_matches_model(pipeline, first + edit)


def test_readers_only_ever_see_the_complete_card_set_of_the_current_run(pipeline: Pipeline) -> None:
    """A reader polls while a consumer applies waves of edits: no torn or mixed set, ever."""
    topics = [f"t{i}" for i in range(4)]
    publish(
        pipeline.bootstrap,
        pipeline.topic,
        [
            event(t, f"{t}-m{i}", f"I'll call Alice about item {i}.", minute=i)
            for t in topics
            for i in range(3)
        ],
    )
    proc = start_consumer(pipeline.env(CARDWRIGHT_DEBOUNCE_MS="50"))
    # The waves below last a few seconds; a busy machine can take as long to start the consumer
    # and join the group, so they begin once every topic has its first cards.
    wait_for(
        lambda: all(
            (snap := cards_by_topic(pipeline.engine, "u1", t)) is not None
            and snap.run_id is not None
            for t in topics
        )
    )
    anomalies: list[str] = []
    observed = 0
    done = threading.Event()

    def read_loop() -> None:
        nonlocal observed
        while not done.is_set():
            for t in topics:
                snap = cards_by_topic(pipeline.engine, "u1", t)
                if snap is None or snap.run_id is None:
                    continue
                observed += 1
                runs = {c.run_id for c in snap.cards}
                if runs - {snap.run_id}:
                    anomalies.append(f"{t}: cards from runs {runs}, current {snap.run_id}")
                with pipeline.engine.connect() as c:
                    count = c.execute(
                        select(extract_runs.c.card_count).where(
                            extract_runs.c.run_id == snap.run_id
                        )
                    ).scalar_one()
                if len(snap.cards) != count:
                    anomalies.append(f"{t}: {len(snap.cards)} cards, run has {count}")
                if [c.position for c in snap.cards] != list(range(len(snap.cards))):
                    anomalies.append(f"{t}: positions {[c.position for c in snap.cards]}")

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for wave in range(1, 6):
            publish(
                pipeline.bootstrap,
                pipeline.topic,
                [
                    event(
                        t,
                        f"{t}-m{i}",
                        f"We decided on option {wave} with Maria.",
                        revision=wave,
                        minute=i,
                    )
                    for t in topics
                    for i in range(3)
                ],
            )
            time.sleep(0.4)
    finally:
        time.sleep(2)
        done.set()
        reader.join()
        stop(proc)
    assert observed > 20
    assert anomalies == []


@pytest.mark.parametrize("protocol", GROUP_PROTOCOLS)
def test_committed_offsets_wait_for_debouncing_topics_and_a_killed_consumer_loses_nothing(
    pipeline: Pipeline, protocol: str
) -> None:
    settled = conversation_events(seed=5, users=1)
    publish(pipeline.bootstrap, pipeline.topic, settled)
    consume_until_idle(pipeline.env(CARDWRIGHT_GROUP_PROTOCOL=protocol))
    settled_offsets = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)

    # A debounce far longer than the test: the new events are persisted but never extracted.
    proc = start_consumer(
        pipeline.env(
            CARDWRIGHT_DEBOUNCE_MS="600000",
            CARDWRIGHT_MAX_DELAY_MS="600000",
            CARDWRIGHT_GROUP_PROTOCOL=protocol,
        )
    )
    fresh = [
        event(f"new-{i}", f"new-{i}-m", "Remember to ask Tom about the budget.", user="late-user")
        for i in range(8)
    ]
    publish(pipeline.bootstrap, pipeline.topic, fresh)

    def persisted() -> bool:
        with pipeline.engine.connect() as c:
            n = c.execute(
                select(func.count()).select_from(messages).where(messages.c.user_id == "late-user")
            ).scalar_one()
        return n == len(fresh)

    wait_for(persisted, timeout=60)
    time.sleep(3)  # several commit opportunities pass
    assert (
        committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4) == settled_offsets
    )
    stop(proc, signal.SIGKILL)

    # Under KIP-848 a new member is assigned at once, and the killed member's partitions only
    # once its session expires; `--until-idle` would find nothing to do before then. Under the
    # classic protocol the join itself waits for that.
    wait_group_empty(pipeline.bootstrap, pipeline.group)
    consume_until_idle(pipeline.env(CARDWRIGHT_GROUP_PROTOCOL=protocol))
    assert_matches_model(pipeline, settled + fresh)


def test_two_topics_of_one_conversation_keep_separate_card_sets(pipeline: Pipeline) -> None:
    events = [
        event("trip", "a1", "Let's meet Maria in Lisbon next week.", conversation="chat"),
        event("money", "b1", "We decided to use PostgreSQL for the ledger.", conversation="chat"),
        event(
            "trip", "x1", "I prefer short meetings in the morning.", user="other", conversation="z"
        ),
    ]
    publish(pipeline.bootstrap, pipeline.topic, events)
    consume_until_idle(pipeline.env())
    trip = cards_by_topic(pipeline.engine, "u1", "trip")
    money = cards_by_topic(pipeline.engine, "u1", "money")
    other = cards_by_topic(pipeline.engine, "other", "trip")
    assert trip and money and other
    assert {m for c in trip.cards for m in c.message_ids} == {"a1"}
    assert {m for c in money.cards for m in c.message_ids} == {"b1"}
    assert {m for c in other.cards for m in c.message_ids} == {"x1"}
    view = cards_by_conversation(pipeline.engine, "u1", "chat")
    assert [(s.topic_id, s.cards) for s in view] == [("money", money.cards), ("trip", trip.cards)]
