"""SQLAlchemy 2 table definitions: the storage layout of docs/design.md ("Storage").

- ``messages``: primary facts, one row per message at its latest revision (tombstones kept).
- ``topics``: one row per (user_id, topic_id): its conversation, the ``state_version`` of its
  input, and which run and state the current card set comes from.
- ``extract_runs``: successful extractions only, unique per (topic_id, user_id, source_hash),
  with the model and tokens of model-backed extractors.
- ``extract_failures``: failed extraction attempts, for operators to look at and retry, with the
  tokens they spent.
- ``cards``: derived facts, each belonging to one run.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(128)

messages = Table(
    "messages",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("message_id", ID, primary_key=True),
    Column("topic_id", ID, nullable=False),
    Column("conversation_id", ID, nullable=False),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_messages_topic", messages.c.user_id, messages.c.topic_id, messages.c.created_at)

topics = Table(
    "topics",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("topic_id", ID, primary_key=True),
    Column("conversation_id", ID, nullable=False),
    # Rises whenever a live message of the topic changes; fences stale extractions.
    Column("state_version", BigInteger, nullable=False, server_default="0"),
    Column("last_event_at", DateTime(timezone=True), nullable=True),
    # Where the current card set comes from (all NULL until the first extraction).
    Column("current_run_id", BigInteger, ForeignKey("extract_runs.run_id"), nullable=True),
    Column("cards_state_version", BigInteger, nullable=True),
    Column("cards_source_hash", String(64), nullable=True),
    Column("cards_extractor_id", String(200), nullable=True),
    Column("cards_updated_at", DateTime(timezone=True), nullable=True),
)
Index("ix_topics_conversation", topics.c.user_id, topics.c.conversation_id)

extract_runs = Table(
    "extract_runs",
    metadata,
    Column("run_id", BigInteger, Identity(), primary_key=True),
    Column("topic_id", ID, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("extractor_id", String(200), nullable=False),
    Column("state_version", BigInteger, nullable=False),
    Column("message_count", Integer, nullable=False),
    Column("card_count", Integer, nullable=False),
    Column("extract_ms", Integer, nullable=False),
    Column("consumer_instance", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # What a model-backed extractor spent on the run (NULL for extractors that call none).
    Column("model", String(200), nullable=True),
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
    UniqueConstraint("topic_id", "user_id", "source_hash"),
)

extract_failures = Table(
    "extract_failures",
    metadata,
    Column("failure_id", BigInteger, Identity(), primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("topic_id", ID, nullable=False),
    Column("state_version", BigInteger, nullable=False),
    Column("extractor_id", String(200), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("consumer_instance", String(200), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Tokens all the recorded attempts spent (NULL for extractors that call no model).
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
)
Index("ix_extract_failures_topic", extract_failures.c.user_id, extract_failures.c.topic_id)

cards = Table(
    "cards",
    metadata,
    Column("card_id", String(32), primary_key=True),
    Column("run_id", BigInteger, ForeignKey("extract_runs.run_id"), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("topic_id", ID, nullable=False),
    Column("conversation_id", ID, nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("message_ids", JSONB, nullable=False),
    UniqueConstraint("user_id", "topic_id", "position"),
)
# The unique (user_id, topic_id, position) index also serves reads by topic.
Index("ix_cards_conversation", cards.c.user_id, cards.c.conversation_id)
