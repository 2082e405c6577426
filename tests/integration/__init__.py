"""Integration tests on real Kafka and PostgreSQL."""
