"""The error tree of cardwright.

    CardwrightError                 root: everything cardwright raises on purpose
    ├── ConfigurationError          bad settings or missing tools; the operator must act
    ├── RetryableError              the world is briefly unwell; try again later
    │   ├── DatabaseUnavailable     PostgreSQL cannot be reached or dropped the connection
    │   └── KafkaUnavailable        the broker cannot be reached or refused a request
    ├── BadInput                    one record is unusable: it goes to the DLQ, never stalls
    └── ExtractionFailed            an extractor raised or timed out for one topic

Driver errors (``psycopg``, ``sqlalchemy``, ``KafkaError``) are translated into this tree at the
edges, so the pipeline reasons about "retry" versus "dead-letter" and nothing else.
"""

from __future__ import annotations


class CardwrightError(Exception):
    """Root of every error cardwright raises on purpose."""


class ConfigurationError(CardwrightError):
    """Settings or the environment are wrong; an operator has to change something."""


class RetryableError(CardwrightError):
    """A transient failure: the same operation may succeed later."""


class DatabaseUnavailable(RetryableError):
    """PostgreSQL could not be reached or lost the connection."""


class KafkaUnavailable(RetryableError):
    """The Kafka cluster could not be reached or refused a request."""


class BadInput(CardwrightError):
    """A record that cannot be processed. ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ExtractionFailed(CardwrightError):
    """An extractor failed for one topic."""

    def __init__(self, user_id: str, topic_id: str, cause: str) -> None:
        super().__init__(f"extraction failed for topic {topic_id!r} of user {user_id!r}: {cause}")
        self.user_id = user_id
        self.topic_id = topic_id
        self.cause = cause
