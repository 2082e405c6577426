"""Extraction by entry point spec runs in a child process: a runaway is killed at the timeout,
reported as that topic's failure, and the member goes on; nothing is left behind at close.

No timing is asserted; ``pytest.mark.timeout`` only guards against a hang (a thread-based
timeout would return too, but leave the spinning thread behind: the thread count checks that).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from cardwright.consumers.extraction import TopicExtraction
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import TopicSnapshot
from cardwright.schema.errors import ConfigurationError, ExtractionFailed
from tests.unit import isolation_extractors
from tests.unit.test_rules_extractor import CHAT, snapshot

TIMEOUT_S = 1.0
GUARD_S = 60


def on_topic(topic_id: str) -> TopicSnapshot:
    base = snapshot(*CHAT)
    return type(base)(base.user_id, topic_id, base.conversation_id, 1, base.messages)


def child_pids() -> set[int]:
    """Live or unreaped (zombie) children of this process, from /proc."""
    me = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me:
            found.add(int(entry.name))
    return found


@pytest.fixture
def plugged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolation_extractors.register(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.fixture
def baseline() -> tuple[int, set[int]]:
    return threading.active_count(), child_pids()


def extraction(spec: str) -> TopicExtraction:
    # extract() previews without the database; the engine never connects.
    return TopicExtraction(create_engine("sqlite://"), spec, "test", TIMEOUT_S)


@pytest.mark.timeout(GUARD_S)
@pytest.mark.parametrize("topic", ["spins", "sleeps"])
def test_a_runaway_extractor_is_killed_at_the_timeout_and_the_member_goes_on(
    plugged_in: None, baseline: tuple[int, set[int]], topic: str
) -> None:
    threads, children = baseline
    runner = extraction("test-misbehaving")
    try:
        assert runner.extract(on_topic("fine")) == RulesExtractor().extract(on_topic("fine"))
        (warm,) = child_pids() - children
        with pytest.raises(ExtractionFailed, match="timed out") as failed:
            runner.extract(on_topic(topic))
        assert failed.value.topic_id == topic
        assert child_pids() == children  # killed and reaped
        assert threading.active_count() == threads
        # The next topic gets a new child and its cards.
        assert runner.extract(on_topic("fine")) == RulesExtractor().extract(on_topic("fine"))
        assert warm not in child_pids()
    finally:
        runner.close()
    assert child_pids() == children
    assert threading.active_count() == threads


@pytest.mark.timeout(GUARD_S)
def test_extractor_errors_fail_the_topic_and_keep_the_child_warm(
    plugged_in: None, baseline: tuple[int, set[int]]
) -> None:
    threads, children = baseline
    runner = extraction("test-misbehaving")
    try:
        runner.extract(on_topic("fine"))
        warm = child_pids() - children
        with pytest.raises(ExtractionFailed, match="RuntimeError: extractor exploded"):
            runner.extract(on_topic("raises"))
        with pytest.raises(ExtractionFailed, match=r"PicklingError|AttributeError"):
            runner.extract(on_topic("unpicklable"))
        assert runner.extract(on_topic("fine"))
        assert child_pids() - children == warm  # the same child served all of them
    finally:
        runner.close()
    assert child_pids() == children
    assert threading.active_count() == threads


@pytest.mark.timeout(GUARD_S)
def test_a_crashed_child_fails_its_topic_and_a_new_one_serves_the_next(
    plugged_in: None, baseline: tuple[int, set[int]]
) -> None:
    _threads, children = baseline
    runner = extraction("test-misbehaving")
    try:
        with pytest.raises(ExtractionFailed, match=r"died during extraction \(exit status 3\)"):
            runner.extract(on_topic("exits"))
        assert child_pids() == children
        assert runner.extract(on_topic("fine"))
    finally:
        runner.close()
    assert child_pids() == children


@pytest.mark.timeout(GUARD_S)
def test_the_child_must_load_the_extractor_the_parent_hashes_with(
    plugged_in: None, baseline: tuple[int, set[int]]
) -> None:
    _threads, children = baseline
    runner = extraction("test-two-faced")
    try:
        with pytest.raises(ConfigurationError, match="loaded extractor_id 'impostor@1'"):
            runner.extract(on_topic("fine"))
    finally:
        runner.close()
    assert child_pids() == children


@pytest.mark.timeout(GUARD_S)
def test_rules_by_spec_gives_the_in_process_cards(baseline: tuple[int, set[int]]) -> None:
    _threads, children = baseline
    by_spec = extraction("rules")
    try:
        assert by_spec.extractor.extractor_id == RulesExtractor().extractor_id
        for topic in ("a", "b"):
            assert by_spec.extract(on_topic(topic)) == RulesExtractor().extract(on_topic(topic))
    finally:
        by_spec.close()
    assert child_pids() == children


def test_an_extractor_instance_still_runs_in_process(baseline: tuple[int, set[int]]) -> None:
    in_process = TopicExtraction(create_engine("sqlite://"), RulesExtractor(), "test", TIMEOUT_S)
    try:
        assert in_process.extract(on_topic("a")) == RulesExtractor().extract(on_topic("a"))
        assert child_pids() == baseline[1]
    finally:
        in_process.close()


@pytest.mark.timeout(GUARD_S)
def test_the_child_starts_with_the_member_and_serves_the_first_topic(
    baseline: tuple[int, set[int]],
) -> None:
    threads, children = baseline
    runner = extraction("rules")
    try:
        # Started at construction, before any topic: its start overlaps the group join.
        (started,) = child_pids() - children
        assert runner.extract(on_topic("first")) == RulesExtractor().extract(on_topic("first"))
        assert child_pids() - children == {started}
    finally:
        runner.close()
    assert child_pids() == children
    assert threading.active_count() == threads


@pytest.mark.timeout(GUARD_S)
def test_a_warm_child_that_never_served_ends_at_close(baseline: tuple[int, set[int]]) -> None:
    threads, children = baseline
    runner = extraction("rules")
    assert len(child_pids() - children) == 1
    runner.close()
    assert child_pids() == children
    assert threading.active_count() == threads
