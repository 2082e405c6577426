"""The contract: message events (schema v1), cards, and the source hash of a topic's input."""
