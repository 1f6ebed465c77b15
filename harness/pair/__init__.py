"""The pair: the two targets a run compares, and how requests reach them.

Enters: ``ServiceConfig``, ``SnapshotConfig``, ``Profile`` (setup), ``PreparedRequest`` (models).
Leaves: ``Pair`` (two ``Target``s, their ``Transport``, database watchers, restore), ``Response``.
Modules: ``services`` (start both services on loopback, seeded copies), ``transport`` (one
request to both at once), ``targets`` (the pair as the phases see it), ``pgserver`` (a private
PostgreSQL for a run). May import: setup, cases, compare, db, errors, models.
"""

from __future__ import annotations

from typing import Any

from harness._moved import forward

# the flat layout's module harness.pair is now harness.pair.targets: its names are forwarded,
# with a DeprecationWarning, for one release
_OLD_NAMES = frozenset(["Pair", "Sessions", "Timings", "extract", "login", "open_pair"])


def __getattr__(name: str) -> Any:
    return forward(__name__, "harness.pair.targets", _OLD_NAMES, name)
