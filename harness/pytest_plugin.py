"""pytest --parity (placeholder)."""
