"""The reporting tests' documents are real results: they validate against the model."""

from __future__ import annotations

from typing import Any

from harness.reporting.results import Results


def test_the_fixture_documents_are_valid_results(
    agreeing: dict[str, Any], drifting: dict[str, Any]
) -> None:
    assert Results.model_validate(agreeing).verdict == "agree"
    assert Results.model_validate(drifting).verdict == "drift"
