"""Publishing message events to Kafka: Java-compatible partitioner, Publisher, JSONL input."""
