"""Publishing message events to Kafka: the Java-compatible partitioner, the Publisher, JSONL input."""
