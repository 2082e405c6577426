"""Taking in one polled batch: parse, persist in one transaction, dead-letter what is bad.

Returns what became durable: the events applied (persisted) and the records dead-lettered
(their DLQ writes acknowledged). Nothing here decides about offsets or extraction; the worker
does, from the result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import Message
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from cardwright.consumers.dlq import DeadLetters
from cardwright.errors import BadInput
from cardwright.failpoints import AFTER_BATCH_COMMIT, failpoint
from cardwright.schema.events import REASON_UNSTORABLE, MessageEvent, parse_event
from cardwright.storage.engine import translate_errors
from cardwright.storage.messages import PersistResult, TopicKey, persist_batch

log = logging.getLogger("cardwright.consumer")


@dataclass(frozen=True, slots=True)
class Ingested:
    applied: list[tuple[Message, MessageEvent]]  # persisted (or already stored), in log order
    dead: list[tuple[Message, BadInput]]  # in the DLQ, acknowledged
    needs_extract: set[TopicKey]  # topics whose cards do not come from their stored input
    changed_messages: int


class BatchIngest:
    def __init__(self, engine: Engine, dead_letters: DeadLetters, extractor_id: str) -> None:
        self.engine = engine
        self.dead_letters = dead_letters
        self.extractor_id = extractor_id

    def ingest(self, batch: Sequence[Message]) -> Ingested:
        """Raises ``RetryableError`` (database or DLQ unavailable): retry the whole batch then,
        which is safe because persisting is idempotent."""
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
        except DBAPIError:
            # Not an outage (those were translated): one event PostgreSQL refuses must not
            # stall the partition, so find it by persisting the batch one event at a time.
            result = self._persist_one_by_one(events)
        failpoint(AFTER_BATCH_COMMIT)
        dead.extend((parsed[i][0], rejection) for i, rejection in result.rejected.items())
        for record, rejection in dead:
            self.dead_letters.send(record, rejection)
        if dead:
            self.dead_letters.flush()  # raises KafkaUnavailable: the whole batch is retried
        applied = [pair for i, pair in enumerate(parsed) if i not in result.rejected]
        return Ingested(applied, dead, result.needs_extract, result.changed_messages)

    def _persist(self, events: Sequence[MessageEvent]) -> PersistResult:
        with translate_errors(), self.engine.begin() as connection:
            return persist_batch(connection, events, self.extractor_id)

    def _persist_one_by_one(self, events: Sequence[MessageEvent]) -> PersistResult:
        merged = PersistResult()
        for index, event in enumerate(events):
            try:
                single = self._persist([event])
            except DBAPIError as exc:
                detail = str(exc.orig or exc).strip()[:500]
                merged.rejected[index] = BadInput(REASON_UNSTORABLE, detail)
                log.error("event refused by the database, dead-lettered: %s", detail)
                continue
            if 0 in single.rejected:
                merged.rejected[index] = single.rejected[0]
            merged.needs_extract |= single.needs_extract
            merged.changed_messages += single.changed_messages
        return merged
