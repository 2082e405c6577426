"""cardwright: keeps per-topic cards correct on top of a Kafka stream of message events.

This package is the composition root: settings, the CLI, the local stack and the wiring of the
real pieces (schema, producers, consumers, extractors, storage) into one service.
"""

__version__ = "0.1.0"
