"""Reporters: every one reads the results document (docs/results-schema.md)."""
