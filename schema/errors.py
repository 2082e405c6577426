"""The error tree of cardwright, part of the contract: the four failure classes of
docs/design.md ("Failures: four classes, one place each") are these types, and every layer
raises and handles them, so they live in the lowest layer.

    CardwrightError                 root: everything cardwright raises on purpose
    ├── ConfigurationError          bad settings or missing tools; the operator must act
    │   └── DatabaseMisconfigured   PostgreSQL refuses us as configured (read-only, unmigrated,
    │                               permission denied): carries the SQLSTATE and the fix
    ├── RetryableError              the world is briefly unwell; try again later
    │   ├── DatabaseUnavailable     PostgreSQL cannot be reached or dropped the connection
    │   ├── DatabaseContention      a deadlock, serialization failure or lock timeout: retry
    │   │                           the transaction soon, without pausing as for an outage
    │   └── KafkaUnavailable        the broker cannot be reached or refused a request
    ├── DatabaseRefused             PostgreSQL refused the values sent (SQLSTATE class 22/23):
    │                               an event's fault when persisting, a topic's when replacing
    ├── BadInput                    one record is unusable: it goes to the DLQ, never stalls
    └── ExtractionFailed            an extractor raised or timed out for one topic
        └── ExtractionTimedOut      ... overran its timeout (its process killed, or its
                                    thread abandoned)

Driver errors (``psycopg``, ``sqlalchemy``, ``KafkaError``) are translated into this tree at the
edges (``storage.engine.translate_errors`` classifies by SQLSTATE, see ``storage.sqlstate``), so
the pipeline reasons about the four failure classes of docs/design.md and nothing else.
"""

from __future__ import annotations

from cardwright.schema.usage import TokenUsage


class CardwrightError(Exception):
    """Root of every error cardwright raises on purpose."""


class ConfigurationError(CardwrightError):
    """Settings or the environment are wrong; an operator has to change something."""


class DatabaseMisconfigured(ConfigurationError):
    """PostgreSQL answers but refuses cardwright as it is set up; ``fix`` names the remedy."""

    def __init__(self, sqlstate: str | None, fix: str, detail: str) -> None:
        code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
        head, _, action = fix.partition(": ")
        super().__init__(f"{head}{code}: {action}" if action else f"{fix}{code}")
        self.sqlstate = sqlstate
        self.fix = fix
        self.detail = detail


class RetryableError(CardwrightError):
    """A transient failure: the same operation may succeed later."""


class DatabaseUnavailable(RetryableError):
    """PostgreSQL could not be reached or lost the connection."""


class DatabaseContention(RetryableError):
    """A transaction lost a race with another (deadlock, serialization, lock timeout)."""

    def __init__(self, sqlstate: str | None, detail: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}: {detail}")
        self.sqlstate = sqlstate
        self.detail = detail


class KafkaUnavailable(RetryableError):
    """The Kafka cluster could not be reached or refused a request."""


class DatabaseRefused(CardwrightError):
    """PostgreSQL refused the data of a statement (SQLSTATE class 22 or 23)."""

    def __init__(self, sqlstate: str | None, detail: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}: {detail}")
        self.sqlstate = sqlstate
        self.detail = detail


class BadInput(CardwrightError):
    """A record that cannot be processed. ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ExtractionFailed(CardwrightError):
    """An extractor failed for one topic; ``usage`` is what the failed attempt spent on a model
    (None for extractors that call none), recorded with the failure."""

    def __init__(
        self, user_id: str, topic_id: str, cause: str, usage: TokenUsage | None = None
    ) -> None:
        super().__init__(f"extraction failed for topic {topic_id!r} of user {user_id!r}: {cause}")
        self.user_id = user_id
        self.topic_id = topic_id
        self.cause = cause
        self.usage = usage


class ExtractionTimedOut(ExtractionFailed):
    """An extractor overran its timeout for one topic; nothing of it holds a slot any more."""
