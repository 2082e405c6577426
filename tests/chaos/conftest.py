"""The chaos suite's stack: its own Kafka and PostgreSQL for the session, since it restarts both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.stack import ChaosStack


@pytest.fixture(scope="session")
def chaos_stack() -> Iterator[ChaosStack]:
    stack = ChaosStack()
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
