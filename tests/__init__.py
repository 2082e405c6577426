"""Tests: unit/ needs no service; integration/ runs on real Kafka and PostgreSQL."""
