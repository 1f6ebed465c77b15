"""Benchmarks: figures printed, never asserted (timing targets live here, not in tests).

``services`` is ``parity bench`` (the legacy and its port under one load); ``throughput``
(the stateless phase against replay), ``db_engines`` (one profile on SQLite and on
PostgreSQL), ``db_writes`` (the database layer per write), ``shards`` (``--workers N``).
Enters: a parity.toml. Leaves: tables and ``bench.json``. May import every stage below cli.
"""

from __future__ import annotations

from typing import Any

from harness._moved import forward

# the flat layout's module harness.bench is now harness.bench.services: its names are forwarded,
# with a DeprecationWarning, for one release
_OLD_NAMES = frozenset(["BenchRequest", "main", "run_bench"])


def __getattr__(name: str) -> Any:
    return forward(__name__, "harness.bench.services", _OLD_NAMES, name)
