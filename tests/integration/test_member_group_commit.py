"""Group commit in the member: the extractions that finish together are stored in ONE
transaction, each topic answered as if stored alone (docs/design.md, "Inside a member").

- ``TopicExtraction.store_many`` opens one transaction for the batch (BEGINs counted on the
  engine, runs sharing one inserting transaction id); a topic whose drafts are invalid, whose
  extraction timed out or whose cards PostgreSQL refuses fails alone, the others commit;
- at most ``STORE_BATCH`` topics go in one transaction;
- contention on the transaction (a lock timeout) is every one of its topics' and stores none;
- a member whose extractions finish in one turn stores them in one transaction, and a topic
  the database refuses is retried and recorded on its own while the others keep their runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import Engine, event, select, text

from cardwright.consumers import extraction as extraction_module
from cardwright.consumers.extraction import TopicExtraction, TopicOutcome, TopicStored
from cardwright.consumers.pool import Done, Job
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import CardDraft, TopicSnapshot
from cardwright.schema.errors import DatabaseContention, ExtractionFailed, ExtractionTimedOut
from cardwright.settings import Settings
from cardwright.storage.engine import make_engine
from cardwright.storage.queries import cards_by_topic
from cardwright.storage.replace import Outcome
from cardwright.storage.tables import extract_failures
from cardwright.wiring import build_worker
from tests.integration import storage_support
from tests.integration.conftest import Pipeline
from tests.integration.storage_support import TEXT_A, TEXT_B, TEXT_C, migrated_engine, persist
from tests.integration.support import TEST_DEBOUNCE_MS, committed_offsets, publish
from tests.integration.support import event as pipeline_event

pytestmark = pytest.mark.integration

GUARD_S = 240


class NulTitleForOneTopic:
    """The rules extractor, except that one topic's cards get a title PostgreSQL text refuses
    (a NUL character), and another's (if named) a card citing a message outside its topic."""

    def __init__(self, refused: str, invalid: str | None = None) -> None:
        self._rules = RulesExtractor()
        self._refused = refused
        self._invalid = invalid

    @property
    def extractor_id(self) -> str:
        return self._rules.extractor_id

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        drafts = self._rules.extract(snapshot)
        if snapshot.topic_id == self._refused:
            return [d.model_copy(update={"title": d.title + "\x00"}) for d in drafts]
        if snapshot.topic_id == self._invalid:
            return [d.model_copy(update={"message_ids": ["elsewhere"]}) for d in drafts]
        return drafts


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url) as engine:
        yield engine


def begins(engine: Engine) -> list[int]:
    """A list that grows by one for every transaction begun on ``engine`` (not savepoints)."""
    seen: list[int] = []
    event.listen(engine, "begin", lambda _connection: seen.append(1))
    return seen


def run_xids(engine: Engine) -> dict[str, str]:
    """Each topic's runs' inserting transaction id (xmin)."""
    with engine.connect() as c:
        rows = c.execute(text("SELECT topic_id, xmin::text AS xid FROM extract_runs")).all()
    return {r.topic_id: r.xid for r in rows}


def extracted(engine: Engine, extraction: TopicExtraction, topic_ids: list[str]) -> list[Done]:
    """Each topic's input persisted, prepared and extracted (one at a time), not stored."""
    texts = [TEXT_A, TEXT_B, TEXT_C]
    persist(
        engine,
        [
            storage_support.event(f"m-{t}", texts[n % 3], topic_id=t)
            for n, t in enumerate(topic_ids)
        ],
    )
    dones = []
    for topic_id in topic_ids:
        job = extraction.prepare(storage_support.USER, topic_id)
        assert isinstance(job, Job)
        dones.append(extraction.pool.call(job))
    return dones


def test_store_many_stores_every_topic_in_one_transaction_and_failures_stay_alone(
    engine: Engine,
) -> None:
    extraction = TopicExtraction(
        engine, NulTitleForOneTopic("refused", invalid="invalid"), "test", timeout_s=30
    )
    try:
        topic_ids = ["a", "refused", "b", "invalid", "c", "late"]
        dones = extracted(engine, extraction, topic_ids)
        late = dones[-1].job
        dones[-1] = Done(late, failure=ExtractionTimedOut(*late.key, "timed out"))
        seen = begins(engine)
        stored = extraction.store_many(dones)
    finally:
        extraction.close()

    assert len(seen) == 1  # one transaction for the batch
    by_topic = dict(zip(topic_ids, stored, strict=True))
    for topic_id in ("a", "b", "c"):
        outcome = by_topic[topic_id]
        assert isinstance(outcome, TopicOutcome) and outcome.outcome is Outcome.NEW_RUN
        assert outcome.replace_s > 0  # its share of the transaction's time
        found = cards_by_topic(engine, storage_support.USER, topic_id)
        assert found is not None and found.cards
    refused = by_topic["refused"]
    assert isinstance(refused, ExtractionFailed)
    assert "database refused the cards" in refused.cause
    invalid = by_topic["invalid"]
    assert isinstance(invalid, ExtractionFailed) and "outside the topic" in invalid.cause
    assert isinstance(by_topic["late"], ExtractionTimedOut)
    # The failed topics stored nothing. (The others' runs do not share one xmin: after a
    # refusal the batch is stored one topic per savepoint, each a subtransaction of its own.)
    assert sorted(run_xids(engine)) == ["a", "b", "c"]


def test_store_many_puts_at_most_store_batch_topics_in_one_transaction(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extraction_module, "STORE_BATCH", 2)
    extraction = TopicExtraction(engine, RulesExtractor(), "test", timeout_s=30)
    try:
        topic_ids = ["a", "b", "c", "d", "e"]
        dones = extracted(engine, extraction, topic_ids)
        seen = begins(engine)
        stored = extraction.store_many(dones)
    finally:
        extraction.close()
    assert len(seen) == 3
    assert all(isinstance(s, TopicOutcome) and s.outcome is Outcome.NEW_RUN for s in stored)
    xids = run_xids(engine)
    assert len({xids["a"], xids["b"]}) == 1 and len({xids["c"], xids["d"]}) == 1
    assert len({xids["a"], xids["c"], xids["e"]}) == 3


def test_contention_on_the_transaction_is_every_topic_of_it_and_stores_none(
    engine: Engine, database_url: str
) -> None:
    # The member's lock waits end at a short lock timeout here, so a held row is contention.
    impatient = make_engine(database_url, lock_timeout_ms=300)
    extraction = TopicExtraction(impatient, RulesExtractor(), "test", timeout_s=30)
    try:
        dones = extracted(engine, extraction, ["a", "b", "c"])
        with engine.connect() as holder, holder.begin():
            holder.execute(text("SELECT 1 FROM topics WHERE topic_id = 'b' FOR UPDATE"))
            contended = extraction.store_many(dones)
        after = extraction.store_many(dones)
    finally:
        extraction.close()
        impatient.dispose()
    assert all(isinstance(s, DatabaseContention) for s in contended)
    assert all(isinstance(s, TopicOutcome) and s.outcome is Outcome.NEW_RUN for s in after)
    assert len(set(run_xids(engine).values())) == 1


@pytest.mark.timeout(GUARD_S)
def test_a_member_stores_extractions_finished_together_in_one_transaction(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [
        "I'll send the draft to Alice on Friday.",
        "We decided to use PostgreSQL.",
        "Should we move the launch to March 14?",
        "Remember to ask Tom about the budget.",
    ]
    topic_ids = ["t0", "t1", "nul", "t3"]
    events = [
        pipeline_event(t, f"m{n}", texts[n], conversation=f"c{n}") for n, t in enumerate(topic_ids)
    ]
    publish(pipeline.bootstrap, pipeline.topic, events)
    settings = Settings(
        kafka_bootstrap_servers=pipeline.bootstrap,
        database_url=pipeline.database_url,
        events_topic=pipeline.topic,
        group_id=pipeline.group,
        debounce_ms=TEST_DEBOUNCE_MS,
        extract_concurrency=4,
        extract_attempts=2,
    )
    worker = build_worker(settings, extractor=NulTitleForOneTopic("nul"))
    pool = worker.extraction.pool
    # The first four extractions are handed to the member together, whenever each ends, so
    # that they do finish in one turn; later ones (the refused topic's retry) as they come.
    real_finished = pool.finished
    held: list[Done] = []
    handed: list[list[str]] = []

    def finished_together() -> list[Done]:
        held.extend(real_finished())
        if not handed and len(held) < len(topic_ids):
            return []
        done = list(held)
        held.clear()
        if done:
            handed.append(sorted(d.job.snapshot.topic_id for d in done))
        return done

    # Each store_many call: how many topics, and how many transactions it began.
    real_store_many = worker.extraction.store_many
    seen = begins(worker.engine)
    stores: list[tuple[int, int]] = []

    def counted(dones: Sequence[Done]) -> list[TopicStored]:
        before = len(seen)
        stored = real_store_many(dones)
        stores.append((len(dones), len(seen) - before))
        return stored

    monkeypatch.setattr(pool, "finished", finished_together)
    monkeypatch.setattr(worker.extraction, "store_many", counted)
    worker.run(until_idle_s=2)

    assert handed[0] == sorted(topic_ids)  # one turn concluded all four
    assert stores[0] == (4, 1)  # ... in one transaction
    assert sorted(run_xids(pipeline.engine)) == ["t0", "t1", "t3"]
    with pipeline.engine.connect() as c:
        failures = c.execute(select(extract_failures.c.topic_id, extract_failures.c.attempts))
        assert [(f.topic_id, f.attempts) for f in failures] == [("nul", 2)]
    assert worker.stats.runs == {"new": 3, "failed": 1}
    ends = committed_offsets(pipeline.bootstrap, pipeline.group, pipeline.topic, 4)
    assert sum(ends.values()) == len(events)  # the refused topic did not stall its partition
