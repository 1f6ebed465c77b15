"""Reporting: the results document, and every view of it.

Enters: ``results.Results`` (the pydantic model of ``results.json``; its JSON Schema is
``docs/results.schema.json``) and the events a run emits. Leaves: the console listener and
summary, ``report.html``, ``junit.xml``, ``summary.md``, replay scripts, the coverage table.
Each reporter reads only the results document (never the run), and none imports another.
May import: setup (operation matching for coverage), errors, models.
"""

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
