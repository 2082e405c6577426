"""Unit tests of pure logic; no service needed."""
