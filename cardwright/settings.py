"""Service settings, read from ``CARDWRIGHT_*`` environment variables (and flags).

Secrets are held as ``SecretStr`` so that they never reach a log line or a repr by accident: the
database URL as a whole (it may carry a password, and is a secret wherever it is passed around),
and the secret-looking librdkafka properties (``CARDWRIGHT_KAFKA_SASL_PASSWORD`` and the like, see
``producers.kafka_config``). Each is unwrapped only where its client or engine is built.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cardwright.producers.kafka_config import KafkaSettings
from cardwright.schema.errors import ConfigurationError
from cardwright.storage.engine import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS

# The defaults point at the native local stack (`cardwright stack up`), whose ports are chosen
# away from the usual 9092/5432 so a system Kafka or PostgreSQL does not collide with it.
DEFAULT_BOOTSTRAP = "127.0.0.1:29092"
DEFAULT_DATABASE_URL = "postgresql+psycopg://cardwright@127.0.0.1:25432/cardwright"


class Settings(BaseSettings):
    """Everything a cardwright process needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="CARDWRIGHT_", extra="ignore")

    kafka_bootstrap_servers: str = DEFAULT_BOOTSTRAP
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    events_topic: str = "chat.message-events"
    group_id: str = "cardwright"
    # A topic is extracted once it has been quiet for debounce_ms, but never later than
    # max_delay_ms after its first pending event, so a chatty topic still gets fresh cards.
    debounce_ms: int = Field(default=3000, ge=0)
    max_delay_ms: int = Field(default=30000, ge=0)
    extractor: str = "rules"
    # Partitions of the events topic when cardwright creates it; partitions are the unit of scale.
    partitions: int = Field(default=6, ge=1)
    # Extraction attempts before a failure is recorded and the topic keeps its previous cards.
    extract_attempts: int = Field(default=3, ge=1)
    extract_timeout_s: float = Field(default=30.0, gt=0)
    # Extractions a member runs at once, off its poll thread: for extractors that wait (a model
    # endpoint); one that declares itself CPU-bound (rules) gets one, more cores need more members.
    extract_concurrency: int = Field(default=4, ge=1)
    # Records fetched per poll: large enough to amortise one DB transaction over many events,
    # small enough that a batch is persisted well inside max.poll.interval.ms.
    batch_size: int = Field(default=1000, ge=1)
    # How long a poll waits to fill a batch. Under load batches fill long before it; at low
    # load every event waits for it, so it is short: it adds straight to card freshness.
    batch_timeout_ms: int = Field(default=50, ge=1)
    # The consumer group protocol: "classic" (rebalances of the whole group, cooperative-sticky
    # assignment by the members) or "consumer" (KIP-848, Kafka 4.0+: the broker assigns
    # partitions member by member, with no group-wide pause; session timeout and heartbeat
    # are then the broker's group.consumer.* settings, see docs/operations.md).
    group_protocol: Literal["classic", "consumer"] = "classic"
    # librdkafka properties as a properties file (security settings: SASL, TLS, ...).
    kafka_properties_file: str | None = None
    # Operations: /metrics, /livez and /readyz on this port (off when unset); 127.0.0.1 unless
    # told otherwise, since a container needs 0.0.0.0 but a shared host should not expose it.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    liveness_timeout_s: float = Field(default=120.0, gt=0)
    # Every database session's lock_timeout and statement_timeout (0: none); why these
    # defaults is said at storage.engine.LOCK_TIMEOUT_MS. `migrate` sets no statement timeout.
    db_lock_timeout_ms: int = Field(default=LOCK_TIMEOUT_MS, ge=0)
    db_statement_timeout_ms: int = Field(default=STATEMENT_TIMEOUT_MS, ge=0)
    # Model tokens this member may spend per hour (sliding); past it topics wait (unset: no
    # limit). Counted from what a model-backed extractor (llm) reports; docs/llm.md, "Budget".
    llm_tokens_per_hour: int | None = Field(default=None, ge=1)
    # The llm extractor reads its CARDWRIGHT_LLM_* settings itself (extractors/llm/settings.py);
    # the key is named here too so that every log line and printed error masks it.
    llm_api_key: SecretStr | None = None
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(lambda v: str(v).upper())
    ] = "INFO"

    @property
    def kafka(self) -> KafkaSettings:
        """The Kafka part, as the client code in producers/ and consumers/ takes it."""
        return KafkaSettings(
            bootstrap_servers=self.kafka_bootstrap_servers,
            bootstrap_explicit="kafka_bootstrap_servers" in self.model_fields_set,
            properties_file=self.kafka_properties_file,
        )

    @property
    def dlq_topic(self) -> str:
        return f"{self.events_topic}.dlq"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (flag) values taking precedence.

    An invalid value is a ``ConfigurationError`` naming the variable, without the value (it may
    be a secret)."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"CARDWRIGHT_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"invalid setting {problems}") from None
