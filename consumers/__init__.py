"""The consumer group member: poll loop, validation, DLQ, debounce, watermark, rebalances."""
