"""Mutants of the FastAPI port: realistic migration drifts the harness must catch (issue 7)."""
