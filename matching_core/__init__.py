"""Deterministic in-memory trading engines; see README.md."""
