"""The local stack: a real Kafka broker and PostgreSQL server, natively or with Docker compose."""
