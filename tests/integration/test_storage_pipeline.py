"""Storage behaviour of the pipeline on a real PostgreSQL: persisting events, extracting, and
replacing card sets, including stale, repeated, concurrent and failing extractions.

Each test gets its own database. Expected card sets are computed from the extractor's drafts
for the stored snapshot and compared with what the query module and the tables return.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy import event as sa_event

from cardwright.consumers.extraction import TopicExtraction
from cardwright.extractors.base import Extractor
from cardwright.extractors.rules import RulesExtractor
from cardwright.schema.cards import CardDraft, CardKind, TopicSnapshot
from cardwright.schema.errors import ExtractionFailed
from cardwright.schema.events import REASON_MESSAGE_MOVED, REASON_TOPIC_CONFLICT
from cardwright.schema.source_hash import source_hash
from cardwright.storage.queries import cards_by_conversation, cards_by_topic, runs_of_topic
from cardwright.storage.replace import (
    ExtractResult,
    Outcome,
    read_snapshot,
    record_failure,
    replace_cards,
)
from cardwright.storage.tables import extract_failures, topics
from tests.integration.storage_support import (
    CONVERSATION,
    EXTRACTOR_ID,
    TEXT_A,
    TEXT_B,
    TEXT_C,
    TOPIC,
    USER,
    CardTuple,
    as_card_tuples,
    event,
    expected_cards,
    message_rows,
    migrated_engine,
    persist,
    run_count,
    state_version,
    stored_cards,
)

pytestmark = pytest.mark.integration

THREADS = 8
# The rules extractor answers in milliseconds; a generous timeout keeps a busy machine green.
EXTRACT_TIMEOUT_S = 30.0


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    # Room for THREADS concurrent transactions plus a reader.
    with migrated_engine(database_url, pool_size=THREADS + 2) as engine:
        yield engine


def extraction(
    engine: Engine, extractor: Extractor | None = None, instance: str = "test"
) -> TopicExtraction:
    return TopicExtraction(engine, extractor or RulesExtractor(), instance, EXTRACT_TIMEOUT_S)


def extract_result(engine: Engine, user_id: str = USER, topic_id: str = TOPIC) -> ExtractResult:
    """What a worker would hand to replace_cards for the topic's input as stored now."""
    stored = read_snapshot(engine, user_id, topic_id)
    assert stored is not None
    extractor = RulesExtractor()
    return ExtractResult(
        snapshot=stored.snapshot,
        source_hash=source_hash(extractor.extractor_id, stored.snapshot.messages),
        extractor_id=extractor.extractor_id,
        drafts=extractor.extract(stored.snapshot),
        extract_ms=1,
        consumer_instance="test",
    )


def cards_for_current_input(
    engine: Engine, user_id: str = USER, topic_id: str = TOPIC
) -> list[CardTuple]:
    """The card set the rules extractor derives from the topic's stored input."""
    result = extract_result(engine, user_id, topic_id)
    assert result.drafts, "test input must give a non-empty card set"
    return expected_cards(result.snapshot, result.source_hash, result.drafts)


def topic_cards(engine: Engine, user_id: str = USER, topic_id: str = TOPIC) -> list[CardTuple]:
    found = cards_by_topic(engine, user_id, topic_id)
    assert found is not None
    return as_card_tuples(found.cards)


def in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# --- repeated, stale and returning input ------------------------------------------------------


def test_rerunning_extraction_on_the_same_input_changes_no_card_and_creates_no_run(
    engine: Engine,
) -> None:
    """Extracting again, also after a redelivery of the same events, is a no-op."""
    events = [event("m1", TEXT_A), event("m2", TEXT_B, minute=1)]
    persist(engine, events)
    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NEW_RUN
    cards_before = stored_cards(engine)
    runs_before = runs_of_topic(engine, USER, TOPIC)
    assert cards_before
    assert len(runs_before) == 1

    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NOOP
    redelivered = persist(engine, events)
    assert redelivered.changed_messages == 0
    assert redelivered.needs_extract == set()
    assert extraction(engine, instance="other").run(USER, TOPIC).outcome is Outcome.NOOP
    # Handing the same result to replace_cards directly is a no-op as well.
    assert replace_cards(engine, extract_result(engine)) is Outcome.NOOP

    assert stored_cards(engine) == cards_before
    assert runs_of_topic(engine, USER, TOPIC) == runs_before


def test_stale_extraction_result_is_refused_and_newer_cards_stay(engine: Engine) -> None:
    """A result read at state N, stored after cards of state N+1: STALE, and nothing changes."""
    persist(engine, [event("m1", TEXT_A)])
    extraction(engine).run(USER, TOPIC)
    persist(engine, [event("m1", TEXT_B, revision=1)])
    stale = extract_result(engine)

    persist(engine, [event("m2", TEXT_C, minute=1)])
    fresh = extraction(engine).run(USER, TOPIC)
    assert fresh.outcome is Outcome.NEW_RUN
    assert fresh.snapshot is not None
    assert fresh.snapshot.state_version > stale.snapshot.state_version
    newer_cards = stored_cards(engine)
    runs = runs_of_topic(engine, USER, TOPIC)

    assert replace_cards(engine, stale) is Outcome.STALE
    assert stored_cards(engine) == newer_cards
    assert runs_of_topic(engine, USER, TOPIC) == runs
    assert topic_cards(engine) == cards_for_current_input(engine)


def test_input_returning_to_an_earlier_state_reuses_that_run_and_cards_follow_the_input(
    engine: Engine,
) -> None:
    """A -> B -> A: the third extraction reuses the first run, and the cards are A's again."""
    persist(engine, [event("m1", TEXT_A)])
    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NEW_RUN
    first = cards_by_topic(engine, USER, TOPIC)
    assert first is not None and first.cards

    persist(engine, [event("m1", TEXT_B, revision=1)])
    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NEW_RUN
    assert topic_cards(engine) == cards_for_current_input(engine)
    assert topic_cards(engine) != as_card_tuples(first.cards)

    persist(engine, [event("m1", TEXT_A, revision=2)])
    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.REUSED_RUN

    third = cards_by_topic(engine, USER, TOPIC)
    assert third is not None
    assert run_count(engine) == 2
    assert third.run_id == first.run_id
    assert third.source_hash == first.source_hash
    assert as_card_tuples(third.cards) == as_card_tuples(first.cards)
    assert {card.run_id for card in third.cards} == {first.run_id}
    assert [run.current for run in runs_of_topic(engine, USER, TOPIC)] == [True, False]
    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NOOP


# --- isolation ----------------------------------------------------------------------------------


def test_two_topics_of_one_conversation_have_isolated_card_sets(engine: Engine) -> None:
    """Each topic gets the cards of its own messages; replacing one leaves the other untouched."""
    persist(
        engine,
        [event("m1", TEXT_A, topic_id="t-a"), event("m2", TEXT_B, topic_id="t-b", minute=1)],
    )
    extraction(engine).run(USER, "t-a")
    extraction(engine).run(USER, "t-b")

    cards_a = stored_cards(engine, topic_id="t-a")
    assert topic_cards(engine, topic_id="t-a") == cards_for_current_input(engine, topic_id="t-a")
    assert topic_cards(engine, topic_id="t-b") == cards_for_current_input(engine, topic_id="t-b")
    found_a = cards_by_topic(engine, USER, "t-a")
    assert found_a is not None
    assert {(c.topic_id, c.user_id) for c in found_a.cards} == {("t-a", USER)}
    assert {m for c in found_a.cards for m in c.message_ids} == {"m1"}

    persist(engine, [event("m2", TEXT_C, revision=1, topic_id="t-b", minute=1)])
    assert extraction(engine).run(USER, "t-b").outcome is Outcome.NEW_RUN
    assert topic_cards(engine, topic_id="t-b") == cards_for_current_input(engine, topic_id="t-b")
    assert stored_cards(engine, topic_id="t-a") == cards_a
    assert run_count(engine, USER, "t-a") == 1


def test_same_topic_id_under_two_users_stays_separate(engine: Engine) -> None:
    """(user_id, topic_id) is the identity: one topic_id for two users is two topics."""
    persist(engine, [event("m1", TEXT_A, user_id="alice")])
    persist(engine, [event("m1", TEXT_B, user_id="bob")])
    for user in ("alice", "bob"):
        assert extraction(engine).run(user, TOPIC).outcome is Outcome.NEW_RUN

    alice = cards_by_topic(engine, "alice", TOPIC)
    bob = cards_by_topic(engine, "bob", TOPIC)
    assert alice is not None and bob is not None
    assert as_card_tuples(alice.cards) == cards_for_current_input(engine, "alice")
    assert as_card_tuples(bob.cards) == cards_for_current_input(engine, "bob")
    assert {c.user_id for c in alice.cards} == {"alice"}
    assert {c.user_id for c in bob.cards} == {"bob"}
    assert not {c.card_id for c in alice.cards} & {c.card_id for c in bob.cards}
    assert message_rows(engine, "alice") == [("m1", 0, TEXT_A, False)]
    assert message_rows(engine, "bob") == [("m1", 0, TEXT_B, False)]
    assert run_count(engine, "alice", TOPIC) == 1
    assert run_count(engine, "bob", TOPIC) == 1
    assert cards_by_topic(engine, "carol", TOPIC) is None


def test_cards_by_conversation_lists_each_topic_with_its_complete_set(engine: Engine) -> None:
    """Every topic of the conversation appears once with exactly its own cards, per user."""
    persist(
        engine,
        [
            event("m1", TEXT_A, topic_id="t-a"),
            event("m2", TEXT_B, topic_id="t-b", minute=1),
            event("m3", TEXT_C, topic_id="t-b", minute=2),
            event("m4", TEXT_C, topic_id="t-other", conversation_id="conv-2"),
            event("m1", TEXT_C, topic_id="t-a", user_id="someone-else"),
        ],
    )
    for user, topic in [
        (USER, "t-a"),
        (USER, "t-b"),
        (USER, "t-other"),
        ("someone-else", "t-a"),
    ]:
        extraction(engine).run(user, topic)

    listed = cards_by_conversation(engine, USER, CONVERSATION)

    assert [t.topic_id for t in listed] == ["t-a", "t-b"]
    for entry in listed:
        assert entry.conversation_id == CONVERSATION
        assert as_card_tuples(entry.cards) == cards_for_current_input(
            engine, topic_id=entry.topic_id
        )
        single = cards_by_topic(engine, USER, entry.topic_id)
        assert single is not None
        assert (entry.run_id, entry.source_hash) == (single.run_id, single.source_hash)
        assert {c.run_id for c in entry.cards} == {entry.run_id}
    other_user = cards_by_conversation(engine, "someone-else", CONVERSATION)
    assert [t.topic_id for t in other_user] == ["t-a"]
    assert as_card_tuples(other_user[0].cards) == cards_for_current_input(
        engine, "someone-else", "t-a"
    )
    assert cards_by_conversation(engine, USER, "no-such-conversation") == []


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_extractions_of_the_same_input_make_one_run_and_one_card_set(
    engine: Engine,
) -> None:
    """Eight workers extracting one topic at once: one new run, the rest no-ops, no duplicates."""
    persist(engine, [event("m1", TEXT_A), event("m2", TEXT_B, minute=1)])
    workers = [extraction(engine, instance=f"worker-{i}") for i in range(THREADS)]

    outcomes = in_threads(THREADS, lambda i: workers[i].run(USER, TOPIC).outcome)

    assert Counter(outcomes) == {Outcome.NEW_RUN: 1, Outcome.NOOP: THREADS - 1}
    assert run_count(engine) == 1
    assert topic_cards(engine) == cards_for_current_input(engine)
    assert len(stored_cards(engine)) == len(cards_for_current_input(engine))


def test_concurrent_replaces_of_the_same_result_make_one_run_and_one_card_set(
    engine: Engine,
) -> None:
    """replace_cards called at once with the same result: exactly one run, one complete set."""
    persist(engine, [event("m1", TEXT_A)])
    extraction(engine).run(USER, TOPIC)
    persist(engine, [event("m1", TEXT_C, revision=1)])
    result = extract_result(engine)

    outcomes = in_threads(THREADS, lambda _: replace_cards(engine, result))

    assert Counter(outcomes) == {Outcome.NEW_RUN: 1, Outcome.NOOP: THREADS - 1}
    assert run_count(engine) == 2
    assert topic_cards(engine) == cards_for_current_input(engine)


class RecordingExtractor:
    """The rules extractor, remembering the card set it derived for each source hash."""

    def __init__(self) -> None:
        self.inner = RulesExtractor()
        self.lock = threading.Lock()
        self.card_sets: dict[str, list[CardTuple]] = {}

    @property
    def extractor_id(self) -> str:
        return self.inner.extractor_id

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        drafts = self.inner.extract(snapshot)
        digest = source_hash(self.extractor_id, snapshot.messages)
        with self.lock:
            self.card_sets[digest] = expected_cards(snapshot, digest, drafts)
        return drafts


def test_a_reader_always_sees_the_complete_card_set_of_exactly_one_run(engine: Engine) -> None:
    """While a writer keeps changing the input and replacing cards, every read returns the
    whole card set of one run: never empty after cards existed, never a mix of two runs."""
    texts = [TEXT_A, TEXT_B, TEXT_C, f"{TEXT_A} {TEXT_C}"]
    changes = 40
    recorder = RecordingExtractor()
    worker = extraction(engine, recorder)
    done = threading.Event()
    observed: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for revision in range(changes):
                text = texts[revision % len(texts)]
                persist(engine, [event("m1", text, revision=revision), event("m2", TEXT_B)])
                assert worker.run(USER, TOPIC).outcome in {Outcome.NEW_RUN, Outcome.REUSED_RUN}
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                found = cards_by_topic(engine, USER, TOPIC)
                if found is None or found.run_id is None:
                    assert not observed, "cards vanished after a card set existed"
                    continue
                assert found.source_hash is not None
                with recorder.lock:
                    expected = recorder.card_sets[found.source_hash]
                assert as_card_tuples(found.cards) == expected
                assert {c.run_id for c in found.cards} == {found.run_id}
                observed.append((found.run_id, found.source_hash))
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    writer = threading.Thread(target=write)
    reader.start()
    writer.start()
    writer.join()
    reader.join()
    if errors:
        raise errors[0]

    runs = {run.run_id: run.source_hash for run in runs_of_topic(engine, USER, TOPIC)}
    assert len(runs) == len(texts)
    assert len(observed) > changes // 4, "the reader hardly ran; the test proves little"
    assert len(set(observed)) > 1
    assert all(runs[run_id] == digest for run_id, digest in observed)


# --- edits and deletes --------------------------------------------------------------------------


def test_a_stale_edit_arriving_after_a_newer_one_changes_nothing(engine: Engine) -> None:
    """Revision 1 after revision 2 is ignored: same row, same state_version, nothing to extract."""
    persist(engine, [event("m1", "first"), event("m1", "third", revision=2)])
    extraction(engine).run(USER, TOPIC)
    version = state_version(engine)

    late = persist(engine, [event("m1", "second", revision=1)])

    assert late.changed_messages == 0
    assert late.needs_extract == set()
    assert late.rejected == {}
    assert message_rows(engine) == [("m1", 2, "third", False)]
    assert state_version(engine) == version
    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    assert [m.text for m in stored.snapshot.messages] == ["third"]


def test_within_one_batch_the_highest_revision_wins_whatever_the_order(engine: Engine) -> None:
    """Events of one message in one batch, out of order: the stored row is the highest revision."""
    persist(
        engine,
        [
            event("m1", "third", revision=2),
            event("m1", "first"),
            event("m1", "second", revision=1),
        ],
    )
    assert message_rows(engine) == [("m1", 2, "third", False)]


def test_a_delete_makes_the_message_a_tombstone_that_leaves_the_snapshot(engine: Engine) -> None:
    """The deleted message keeps a row (revision, deleted) but is no longer part of the input."""
    persist(engine, [event("m1", TEXT_A), event("m2", TEXT_C, minute=1)])
    extraction(engine).run(USER, TOPIC)
    version = state_version(engine)

    deleted = persist(engine, [event("m1", "", revision=1)])

    assert deleted.changed_messages == 1
    assert deleted.needs_extract == {(USER, TOPIC)}
    assert message_rows(engine) == [("m1", 1, "", True), ("m2", 0, TEXT_C, False)]
    assert state_version(engine) > version
    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    assert [m.message_id for m in stored.snapshot.messages] == ["m2"]

    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NEW_RUN
    found = cards_by_topic(engine, USER, TOPIC)
    assert found is not None and found.cards
    assert {m for card in found.cards for m in card.message_ids} == {"m2"}
    assert as_card_tuples(found.cards) == cards_for_current_input(engine)


def test_an_edit_after_a_delete_with_a_lower_revision_changes_nothing(engine: Engine) -> None:
    """A late edit cannot bring a deleted message back."""
    persist(engine, [event("m1", TEXT_A), event("m1", "", revision=3)])
    version = state_version(engine)

    late = persist(engine, [event("m1", "resurrected?", revision=2)])

    assert late.changed_messages == 0
    assert message_rows(engine) == [("m1", 3, "", True)]
    assert state_version(engine) == version
    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    assert stored.snapshot.messages == ()


# --- bad input inside a batch -------------------------------------------------------------------


def test_persist_batch_rejects_a_topic_claimed_by_another_conversation_and_applies_the_rest(
    engine: Engine,
) -> None:
    """A topic belongs to the first conversation that names it, in earlier batches or this one;
    contradicting events are rejected with their reason, the rest of the batch is applied."""
    persist(engine, [event("m1", "hello")])
    batch = [
        event("m2", "fine", minute=1),
        event("m3", "wrong conversation", conversation_id="conv-2", minute=2),
        event("m4", "new topic", topic_id="t-new", conversation_id="conv-2"),
        event("m5", "claims t-new again", topic_id="t-new", conversation_id="conv-3"),
        event("m6", "fine too", minute=3),
    ]

    result = persist(engine, batch)

    assert sorted(result.rejected) == [1, 3]
    assert {bad.reason for bad in result.rejected.values()} == {REASON_TOPIC_CONFLICT}
    assert [row[0] for row in message_rows(engine)] == ["m1", "m2", "m4", "m6"]
    with engine.connect() as connection:
        owners = dict(
            connection.execute(select(topics.c.topic_id, topics.c.conversation_id)).tuples().all()
        )
    assert owners == {TOPIC: CONVERSATION, "t-new": "conv-2"}


def test_persist_batch_rejects_a_message_moved_to_another_topic_and_applies_the_rest(
    engine: Engine,
) -> None:
    """A message belongs to the first topic that names it; a move is rejected, never applied."""
    persist(engine, [event("m1", "hello")])
    batch = [
        event("m1", "moved", revision=1, topic_id="t-2"),
        event("m2", "fine", minute=1),
        event("m3", "new here", topic_id="t-2"),
        event("m3", "and moved in the same batch", revision=1),
    ]

    result = persist(engine, batch)

    assert sorted(result.rejected) == [0, 3]
    assert {bad.reason for bad in result.rejected.values()} == {REASON_MESSAGE_MOVED}
    assert message_rows(engine) == [
        ("m1", 0, "hello", False),
        ("m2", 0, "fine", False),
        ("m3", 0, "new here", False),
    ]
    stored = read_snapshot(engine, USER, "t-2")
    assert stored is not None
    assert [m.message_id for m in stored.snapshot.messages] == ["m3"]


def test_a_rejected_event_does_not_claim_its_topic_for_its_conversation(engine: Engine) -> None:
    """Only applied events claim a topic: a rejected one must not make later events conflict."""
    persist(engine, [event("m1", "hello")])
    batch = [
        event("m1", "moved", revision=1, topic_id="t-2", conversation_id="conv-2"),
        event("m2", "first real event of t-2", topic_id="t-2", conversation_id="conv-3"),
    ]

    result = persist(engine, batch)

    assert {i: bad.reason for i, bad in result.rejected.items()} == {0: REASON_MESSAGE_MOVED}


def test_a_text_with_a_nul_character_never_fails_the_batch(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL: such an event must be bad input, not a failed batch."""
    try:
        nul = event("m1", "before\x00after")
    except ValueError:
        return  # refused by validation: bad input, as it should be
    result = persist(engine, [nul, event("m2", "fine", minute=1)])
    assert list(result.rejected) == [0]
    assert [row[0] for row in message_rows(engine)] == ["m2"]


# --- failing extractors -------------------------------------------------------------------------


class RaisingExtractor:
    extractor_id = EXTRACTOR_ID

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        raise RuntimeError("extractor exploded")


class MiscitingExtractor:
    """Returns a card that cites a message outside the topic."""

    extractor_id = EXTRACTOR_ID

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        return [CardDraft(kind=CardKind.DECISION, title="made up", message_ids=("elsewhere",))]


class BlockingExtractor:
    extractor_id = EXTRACTOR_ID

    def __init__(self) -> None:
        self.release = threading.Event()

    def extract(self, snapshot: TopicSnapshot) -> list[CardDraft]:
        self.release.wait(10)
        return []


def test_a_failing_extractor_raises_extraction_failed_and_the_previous_cards_stay(
    engine: Engine,
) -> None:
    persist(engine, [event("m1", TEXT_A)])
    extraction(engine).run(USER, TOPIC)
    cards_before = stored_cards(engine)
    runs_before = runs_of_topic(engine, USER, TOPIC)
    persist(engine, [event("m1", TEXT_B, revision=1)])

    with pytest.raises(ExtractionFailed) as failed:
        extraction(engine, RaisingExtractor()).run(USER, TOPIC)
    assert "extractor exploded" in failed.value.cause
    assert (failed.value.user_id, failed.value.topic_id) == (USER, TOPIC)
    with pytest.raises(ExtractionFailed, match="outside the topic"):
        extraction(engine, MiscitingExtractor()).run(USER, TOPIC)
    blocking = BlockingExtractor()
    try:
        with pytest.raises(ExtractionFailed, match="timed out"):
            TopicExtraction(engine, blocking, "test", timeout_s=0.2).run(USER, TOPIC)
    finally:
        blocking.release.set()

    stored = read_snapshot(engine, USER, TOPIC)
    assert stored is not None
    record_failure(engine, stored.snapshot, EXTRACTOR_ID, failed.value.cause, 3, "test")

    assert stored_cards(engine) == cards_before
    assert runs_of_topic(engine, USER, TOPIC) == runs_before
    with engine.connect() as connection:
        failures = (
            connection.execute(
                select(extract_failures.c.attempts, extract_failures.c.state_version)
            )
            .tuples()
            .all()
        )
    assert failures == [(3, stored.snapshot.state_version)]
    # A working extractor later brings the cards up to the input.
    assert extraction(engine).run(USER, TOPIC).outcome is Outcome.NEW_RUN
    assert topic_cards(engine) == cards_for_current_input(engine)


def test_a_worker_that_found_its_input_current_never_empties_cards_after_a_concurrent_replace(
    engine: Engine, database_url: str
) -> None:
    """A -> B -> A with two workers: worker Y reads input A while A's cards are current; before
    Y replaces, worker X stores B's cards. Y must not leave the topic on run A with no cards."""
    persist(engine, [event("m1", TEXT_A)])
    extraction(engine).run(USER, TOPIC)
    cards_a = topic_cards(engine)
    persist(engine, [event("m1", TEXT_B, revision=1)])
    worker_x_result = extract_result(engine)
    persist(engine, [event("m1", TEXT_A, revision=2)])

    with migrated_engine(database_url) as other:
        fired: list[Outcome] = []

        def x_replaces_first(
            conn: Connection,
            cursor: Any,
            statement: str,
            params: Any,
            context: Any,
            executemany: bool,
        ) -> None:
            if "FOR UPDATE" in statement and not fired:
                fired.append(replace_cards(other, worker_x_result))

        sa_event.listen(engine, "before_cursor_execute", x_replaces_first)
        try:
            extraction(engine, instance="worker-y").run(USER, TOPIC)
        finally:
            sa_event.remove(engine, "before_cursor_execute", x_replaces_first)
    assert fired == [Outcome.NEW_RUN]

    cards_b = expected_cards(
        worker_x_result.snapshot, worker_x_result.source_hash, worker_x_result.drafts
    )
    # Either Y re-derived A's cards, or it stood back and left X's complete set for a retry.
    assert topic_cards(engine) in (cards_a, cards_b), "the topic was left with a wrong card set"
