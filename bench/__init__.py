"""Benchmarks: load generation and side-by-side measurements on the real local stack."""
