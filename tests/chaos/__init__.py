"""The chaos suite: a seeded workload and fault schedule over a real consumer group, and an
independent checker of the result (see tests/chaos/README.md)."""
