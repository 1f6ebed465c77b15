"""The suite's tiers: every test is ``unit``, ``integration``, ``e2e`` or ``mutants``.

A test marked ``e2e`` (real services) or ``integration`` (a process or database beside the
test, no pair) keeps that tier; any other test is ``unit`` (no services). The mutant
catalogue (``mutants``, dozens of full parity runs) is collected only when asked for by
name: ``-m mutants`` (``nox -s mutants``) or ``pytest tests/mutants``, so ``pytest`` and
``nox -s tests`` stay short.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The shipped pair's signed webhook: parity signs with $WEBHOOK_SECRET and both services
# inherit it (contracts/parity.toml [auth.signing]); a CI or user value wins.
os.environ.setdefault("WEBHOOK_SECRET", "parity-test-webhook-secret")

TIERS = ("unit", "integration", "e2e", "mutants")


def _asks_for_mutants(config: pytest.Config) -> bool:
    """``-m mutants`` (or an expression naming it), or ``tests/mutants`` named on the command line."""
    expression = str(config.getoption("markexpr", "") or "")
    if "mutants" in expression and "not mutants" not in expression:
        return True
    here = Path(__file__).parent / "mutants"
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if path == here or here in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    wanted = _asks_for_mutants(config)
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t) is not None]
        if "mutants" in tiers:
            tiers = ["mutants"]
        elif "e2e" in tiers:
            tiers = ["e2e"]
        if not tiers:
            item.add_marker(pytest.mark.unit)
            tiers = ["unit"]
        if len(tiers) > 1:
            raise pytest.UsageError(f"{item.nodeid}: more than one tier {tiers}")
        if tiers == ["mutants"] and not wanted:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
