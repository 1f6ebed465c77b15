"""The import paths of the flat ``harness/`` (before one package a stage), kept for one release.

``import harness.config`` still works and is the same module object as
``harness.setup.config`` (so monkeypatching through either name patches one module), with a
:class:`DeprecationWarning` naming the new path, once per process. A finder rather than one
shim file per old path: no file stays at an old path, so git follows each module to its new
home when other branches that edited it are merged. Removed in the release after next.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MOVED", "MovedFinder", "forward", "install"]

# old module -> new module (the old ``harness.cases``, ``harness.pair`` and ``harness.bench``
# are packages now; their ``__init__`` forwards the old names, see ``forward``)
MOVED: dict[str, str] = {
    "harness.config": "harness.setup.config",
    "harness.contract": "harness.setup.contract",
    "harness.overlay": "harness.setup.overlay",
    "harness.generation": "harness.cases.generation",
    "harness.edges": "harness.cases.edges",
    "harness.fixtures": "harness.cases.fixtures",
    "harness.files": "harness.cases.files",
    "harness.stateful": "harness.cases.sequences",
    "harness.services": "harness.pair.services",
    "harness.transport": "harness.pair.transport",
    "harness.pgserver": "harness.pair.pgserver",
    "harness.database": "harness.db.watcher",
    "harness.dbdiff": "harness.db.sqlite",
    "harness.db_postgres": "harness.db.postgres",
    "harness.pgload": "harness.db.load",
    "harness.invariants": "harness.db.invariants",
    "harness.normalization": "harness.compare.normalization",
    "harness.comparison": "harness.compare.comparison",
    "harness.noise": "harness.compare.noise",
    "harness.findings": "harness.compare.findings",
    "harness.results": "harness.reporting.results",
    "harness.engine": "harness.run.engine",
    "harness.context": "harness.run.context",
    "harness.outcome": "harness.run.outcome",
    "harness.invariant_log": "harness.run.invariant_log",
    "harness.sharding": "harness.run.sharding",
    "harness.shard": "harness.run.partition",
    "harness.phases": "harness.run.phases",
    "harness.workers": "harness.scale.workers",
    "harness.merge": "harness.scale.merge",
    "harness.bench_db": "harness.bench.db_writes",
    "harness.bench_engine": "harness.bench.throughput",
    "harness.bench_engines": "harness.bench.db_engines",
    "harness.bench_shards": "harness.bench.shards",
}
MOVED.update(
    {
        f"harness.phases.{name}": f"harness.run.phases.{name}"
        for name in (
            "calibration",
            "interop",
            "probes",
            "realtime",
            "rows",
            "stateful",
            "stateless",
        )
    }
)


def _warn(old: str, new: str, skip: int = 0) -> None:
    """Warn at the line that used the old path (``skip``: frames of a package's __getattr__)."""
    warnings.warn(
        f"{old} moved to {new}; the old path goes in the next release",
        DeprecationWarning,
        stacklevel=_importer_level() + skip,
    )


def _importer_level() -> int:
    """The stacklevel, for ``warnings.warn`` in ``_warn``, of the first frame outside this
    module (``warnings`` itself steps over importlib's frames)."""
    frame = sys._getframe(2)  # _warn's caller: stacklevel 2
    level = 2
    while frame is not None:
        name = frame.f_code.co_filename
        if name != __file__ and not name.startswith("<frozen importlib"):
            break
        if name == __file__:
            level += 1
        frame = frame.f_back  # type: ignore[assignment]
    return level


class _Loader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder; exec_module swaps in the real module

    def exec_module(self, module: ModuleType) -> None:
        # the import system returns what sys.modules holds under the old name after this
        # runs, so the old name becomes an alias of the real module (its __spec__ untouched)
        _warn(module.__name__, self.new)
        sys.modules[module.__name__] = importlib.import_module(self.new)


class MovedFinder(importlib.abc.MetaPathFinder):
    """Resolves an old ``harness.*`` path to the module that now lives elsewhere."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(new))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())


def forward(package: str, new: str, names: frozenset[str], name: str) -> object:
    """``package.__getattr__`` for a package that took an old module's name.

    Only the old module's public ``names`` are forwarded (with the warning), so that a
    probe for a submodule (``from harness.pair import services``) neither warns nor imports.
    """
    if name not in names:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    _warn(f"{package}.{name}", f"{new}.{name}", skip=1)
    value = getattr(importlib.import_module(new), name)
    setattr(sys.modules[package], name, value)  # warned once: later lookups find it
    return value
