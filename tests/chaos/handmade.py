"""A hand-made event log for the checker's tests: records in one partition, built in order."""

from __future__ import annotations

import random

from tests.chaos.events import EventFactory, Message
from tests.chaos.model import LogRecord

TOPIC = "events"


class Log:
    """A one-partition event log built by hand, with produce times one second apart."""

    def __init__(self) -> None:
        self.factory = EventFactory(random.Random(7))
        self.records: list[LogRecord] = []

    def add(self, key: bytes | None, value: bytes, partition: int = 0) -> int:
        offset = sum(1 for r in self.records if r.partition == partition)
        self.records.append(
            LogRecord(partition, offset, key, value, 1000 * (len(self.records) + 1))
        )
        return offset

    def message(
        self, user: str = "u", topic: str = "t", conversation: str = "c", message: str = "m1"
    ) -> Message:
        return self.factory.new_message(user, topic, conversation, message)

    def write(self, m: Message, text: str) -> int:
        return self.add(m.topic_id.encode(), self.factory.advance(m, text))
