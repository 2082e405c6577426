"""Initial schema: messages, topics, extract_runs, extract_failures, cards.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("topic_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("user_id", "message_id", name="pk_messages"),
    )
    op.create_index("ix_messages_topic", "messages", ["user_id", "topic_id", "created_at"])

    op.create_table(
        "extract_runs",
        sa.Column("run_id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("topic_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("extractor_id", sa.String(200), nullable=False),
        sa.Column("state_version", sa.BigInteger, nullable=False),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("card_count", sa.Integer, nullable=False),
        sa.Column("extract_ms", sa.Integer, nullable=False),
        sa.Column("consumer_instance", sa.String(200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_extract_runs"),
        sa.UniqueConstraint(
            "topic_id",
            "user_id",
            "source_hash",
            name="uq_extract_runs_topic_id_user_id_source_hash",
        ),
    )

    op.create_table(
        "topics",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("topic_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("state_version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_run_id", sa.BigInteger, nullable=True),
        sa.Column("cards_state_version", sa.BigInteger, nullable=True),
        sa.Column("cards_source_hash", sa.String(64), nullable=True),
        sa.Column("cards_extractor_id", sa.String(200), nullable=True),
        sa.Column("cards_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "topic_id", name="pk_topics"),
        sa.ForeignKeyConstraint(
            ["current_run_id"],
            ["extract_runs.run_id"],
            name="fk_topics_current_run_id_extract_runs",
        ),
    )
    op.create_index("ix_topics_conversation", "topics", ["user_id", "conversation_id"])

    op.create_table(
        "extract_failures",
        sa.Column("failure_id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("topic_id", ID, nullable=False),
        sa.Column("state_version", sa.BigInteger, nullable=False),
        sa.Column("extractor_id", sa.String(200), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("consumer_instance", sa.String(200), nullable=False),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("failure_id", name="pk_extract_failures"),
    )
    op.create_index("ix_extract_failures_topic", "extract_failures", ["user_id", "topic_id"])

    op.create_table(
        "cards",
        sa.Column("card_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("topic_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("message_ids", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("card_id", name="pk_cards"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["extract_runs.run_id"], name="fk_cards_run_id_extract_runs"
        ),
        sa.UniqueConstraint(
            "user_id", "topic_id", "position", name="uq_cards_user_id_topic_id_position"
        ),
    )
    op.create_index("ix_cards_conversation", "cards", ["user_id", "conversation_id"])


def downgrade() -> None:
    op.drop_table("cards")
    op.drop_table("extract_failures")
    op.drop_table("topics")
    op.drop_table("extract_runs")
    op.drop_table("messages")
