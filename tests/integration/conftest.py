"""Fixtures for pipeline tests: a migrated database and a consumer environment per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from cardwright.storage.engine import make_engine
from cardwright.storage.migrate import upgrade
from tests.integration.support import consumer_env


@dataclass
class Pipeline:
    bootstrap: str
    database_url: str
    topic: str
    group: str
    engine: Engine

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def env(self, **extra: str) -> dict[str, str]:
        return consumer_env(self.bootstrap, self.database_url, self.topic, self.group, **extra)


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, database_url: str, topic_name: str, group_id: str
) -> Iterator[Pipeline]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield Pipeline(kafka_bootstrap, database_url, topic_name, group_id, engine)
    engine.dispose()
