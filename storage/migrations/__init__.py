"""Alembic migrations of the cardwright schema."""
