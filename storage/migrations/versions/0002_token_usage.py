"""Cost accounting: the model and tokens of each run, and the tokens of failed attempts.

All nullable: existing rows and extractors that call no model have none (docs/llm.md, "Cost").
Adding nullable columns without defaults is a catalogue change in PostgreSQL, no table rewrite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("extract_runs", sa.Column("model", sa.String(200), nullable=True))
    op.add_column("extract_runs", sa.Column("prompt_tokens", sa.Integer, nullable=True))
    op.add_column("extract_runs", sa.Column("completion_tokens", sa.Integer, nullable=True))
    op.add_column("extract_failures", sa.Column("prompt_tokens", sa.Integer, nullable=True))
    op.add_column("extract_failures", sa.Column("completion_tokens", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("extract_failures", "completion_tokens")
    op.drop_column("extract_failures", "prompt_tokens")
    op.drop_column("extract_runs", "completion_tokens")
    op.drop_column("extract_runs", "prompt_tokens")
    op.drop_column("extract_runs", "model")
