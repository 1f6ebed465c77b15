"""The suite's tiers: every test is ``unit``, ``integration``, ``e2e`` or ``mutants``.

A test marked ``e2e`` (real services) or ``integration`` (a process or database beside the
test, no pair) keeps that tier; any other test is ``unit`` (no services). The mutant
catalogue (``mutants``, dozens of full parity runs) is collected only when asked for by
name: ``-m mutants`` (``nox -s mutants``), so ``pytest`` and ``nox -s tests`` stay short.
"""

from __future__ import annotations

import pytest

TIERS = ("unit", "integration", "e2e", "mutants")


def _asks_for_mutants(config: pytest.Config) -> bool:
    expression = str(config.getoption("markexpr", "") or "")
    return "mutants" in expression and "not mutants" not in expression


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
