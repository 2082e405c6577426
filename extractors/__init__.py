"""Extractors turn one topic snapshot into card drafts. Pure and deterministic per input."""
