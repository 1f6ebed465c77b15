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
import re
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

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


def forward(package: str, new: str, names: frozenset[str], name: str) -> Any:
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


# --- rewriting old paths in source (``python -m harness._moved PATH...``) -------------------

# the submodules of the packages that took an old module's name: harness.pair.services is a
# new path, harness.pair.Pair an old one
_NEW_SUBMODULES = {
    "harness.pair": {"pgserver", "services", "targets", "transport"},
    "harness.cases": {"edges", "files", "fixtures", "generation", "sequences", "source"},
    "harness.bench": {"db_engines", "db_writes", "services", "shards", "throughput", "__main__"},
}
_CLASHES = {"harness.pair": "harness.pair.targets", "harness.cases": "harness.cases.source"}
_CLASHES["harness.bench"] = "harness.bench.services"


def _dotted_pattern() -> re.Pattern[str]:
    names = sorted({*MOVED, *_CLASHES}, key=len, reverse=True)
    return re.compile(
        r"(?<![\w.])(" + "|".join(re.escape(n) for n in names) + r")(?:\.(\w+))?(?![\w])"
    )


def rewrite(text: str) -> str:
    """``text`` with every flat-layout module path (dotted or as a file path) made new."""

    def dotted(m: re.Match[str]) -> str:
        old, tail = m.group(1), m.group(2)
        if old in _CLASHES:
            if tail is not None and tail in _NEW_SUBMODULES[old]:
                return m.group(0)  # already a new path
            if tail is None and m.string[m.end() : m.end() + 1] == ".":
                return m.group(0)
            new = _CLASHES[old]
        else:
            new = MOVED[old]
        return new + (f".{tail}" if tail is not None else "")

    text = _dotted_pattern().sub(dotted, text)
    # file paths: harness/config.py, harness/phases/ (a clash name only as a .py file)
    files = sorted({n.removeprefix("harness.") for n in {*MOVED, *_CLASHES}}, key=len, reverse=True)

    def slashed(m: re.Match[str]) -> str:
        old, end = "harness." + m.group(1), m.group(2)
        if old in _CLASHES:
            if end != ".py":
                return m.group(0)
            new = _CLASHES[old]
        else:
            new = MOVED[old]
        return new.replace(".", "/") + end

    pattern = r"(?<![\w/])harness/(" + "|".join(re.escape(f) for f in files) + r")(\.py\b|/)"
    return re.sub(pattern, lambda m: slashed(m), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the old import paths in the given files and folders (``.py``, ``.pyi``,
    ``.md``, ``.toml``, ``.yml``) in place; prints each file it changed."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m harness._moved", description=main.__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    suffixes = {".py", ".pyi", ".md", ".toml", ".yml", ".yaml"}
    for root in args.paths:
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in files:
            if path.suffix not in suffixes or not path.is_file() or ".venv" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            new = rewrite(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
