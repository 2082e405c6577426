"""Taking in one polled batch: parse, persist in one transaction, dead-letter what is bad.

Returns what became durable: the events applied (persisted) and the records dead-lettered
(their DLQ writes acknowledged). Nothing here decides about offsets or extraction; the worker
does, from the result.

Database errors arrive classified (storage.engine.translate_errors, docs/design.md "Failures:
four classes"): only a data refusal (SQLSTATE class 22/23) that persisting one event alone
reproduces dead-letters that event. Contention is retried here; an outage or a configuration
fault propagates, so nothing is dead-lettered and no offset moves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import Message
from sqlalchemy import Engine

from cardwright.consumers.backoff import exponential
from cardwright.consumers.dlq import DeadLetters
from cardwright.schema.cards import TopicKey
from cardwright.schema.errors import BadInput, DatabaseContention, DatabaseRefused
from cardwright.schema.events import REASON_UNSTORABLE, MessageEvent, parse_event
from cardwright.schema.failpoints import AFTER_BATCH_COMMIT, failpoint
from cardwright.storage.engine import translate_errors
from cardwright.storage.messages import PersistResult, persist_batch

log = logging.getLogger("cardwright.consumer")

# A deadlock or serialization failure is resolved by running the transaction again; PostgreSQL's
# deadlock_timeout is 1 s, so a few short, growing pauses (0.05 s doubling, about 1.5 s in all)
# ride out ordinary contention. Past them the worker treats it as an outage (pause, probe).
CONTENTION_ATTEMPTS = 6
CONTENTION_BASE_S = 0.05


@dataclass(frozen=True, slots=True)
class Ingested:
    applied: list[tuple[Message, MessageEvent]]  # persisted (or already stored), in log order
    dead: list[tuple[Message, BadInput]]  # in the DLQ, acknowledged
    needs_extract: set[TopicKey]  # topics whose cards do not come from their stored input
    changed_messages: int


class BatchIngest:
    def __init__(
        self,
        engine: Engine,
        dead_letters: DeadLetters,
        extractor_id: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.dead_letters = dead_letters
        self.extractor_id = extractor_id
        self._sleep = sleep

    def ingest(self, batch: Sequence[Message]) -> Ingested:
        """Raises ``RetryableError`` (database or DLQ unavailable, contention that outlasted
        its retries) or ``DatabaseMisconfigured``: retry the whole batch later, which is safe
        because persisting is idempotent and the DLQ skips copies already acknowledged."""
        parsed: list[tuple[Message, MessageEvent]] = []
        dead: list[tuple[Message, BadInput]] = []
        for record in batch:
            try:
                parsed.append((record, parse_event(record.value(), record.key())))
            except BadInput as bad:
                dead.append((record, bad))
        events = [event for _, event in parsed]
        try:
            result = self._persist(events)
        except DatabaseRefused:
            # A value PostgreSQL refuses must not stall the partition: find the event that
            # carries it by persisting the batch one event at a time.
            result = self._persist_one_by_one(events)
        failpoint(AFTER_BATCH_COMMIT)
        dead.extend((parsed[i][0], rejection) for i, rejection in result.rejected.items())
        for record, rejection in dead:
            self.dead_letters.send(record, rejection)
        if dead:
            self.dead_letters.flush()  # raises KafkaUnavailable: the whole batch is retried
        self.dead_letters.forget_acknowledged()  # the batch is done; its retries are over
        applied = [pair for i, pair in enumerate(parsed) if i not in result.rejected]
        return Ingested(applied, dead, result.needs_extract, result.changed_messages)

    def _persist(self, events: Sequence[MessageEvent]) -> PersistResult:
        for attempt in range(1, CONTENTION_ATTEMPTS + 1):
            try:
                with translate_errors(), self.engine.begin() as connection:
                    return persist_batch(connection, events, self.extractor_id)
            except DatabaseContention as exc:
                if attempt == CONTENTION_ATTEMPTS:
                    raise
                log.info("persist lost a race (%s); retrying the batch", exc)
                self._sleep(exponential(attempt, CONTENTION_BASE_S))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _persist_one_by_one(self, events: Sequence[MessageEvent]) -> PersistResult:
        merged = PersistResult()
        for index, event in enumerate(events):
            try:
                single = self._persist([event])
            except DatabaseRefused as exc:
                # The event alone is refused, so the reason lies in the record itself.
                detail = f"SQLSTATE {exc.sqlstate}: {exc.detail}"[:500]
                merged.rejected[index] = BadInput(REASON_UNSTORABLE, detail)
                log.error("event refused by the database, dead-lettered: %s", detail)
                continue
            if 0 in single.rejected:
                merged.rejected[index] = single.rejected[0]
            merged.needs_extract |= single.needs_extract
            merged.changed_messages += single.changed_messages
        return merged
