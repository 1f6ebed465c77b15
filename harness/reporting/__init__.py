"""Reporters: every one reads the results document (docs/results-schema.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.reporting.results import Results

__all__ = ["as_document"]


def as_document(results: Results | Mapping[str, Any]) -> Mapping[str, Any]:
    """The results as plain JSON data for templates (a model is dumped once, as written)."""
    if isinstance(results, Results):
        return results.model_dump(mode="json")
    return results
