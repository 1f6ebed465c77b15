"""The database a replay starts from: the snapshot a capture's header names, resolved to a
SQLite file or to the configured seed command with another seed, so both sides start from the
state the traffic saw instead of whatever the configuration seeds. A name that resolves to
nothing is an input error (exit 2) before any service starts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.setup.config import ParityConfig
from harness.traffic.capture import Capture, TrafficError

__all__ = ["CaptureSnapshot", "resolve_snapshot"]

_SEED = re.compile(r"^seed[\s=:#-]*(\d+)$", re.IGNORECASE)
_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class CaptureSnapshot:
    """Where both sides start: a SQLite ``file`` (copied, never opened for writing), or the
    configured ``[snapshot]`` command run with ``seed``."""

    name: str
    file: Path | None = None
    seed: int | None = None

    def describe(self) -> str:
        if self.file is not None:
            return f"{self.name!r} (the SQLite file {self.file})"
        return f"{self.name!r} (the configured [snapshot] command, seed {self.seed})"


def _sqlite_file(path: Path, name: str, source: str) -> Path:
    if not path.is_file():
        raise TrafficError(f"{source}: the capture starts from snapshot {name!r}: no file {path}")
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise TrafficError(f"{source}: snapshot {name!r}: cannot read {path}: {exc}") from exc
    if magic != _SQLITE_MAGIC:
        raise TrafficError(f"{source}: snapshot {name!r}: {path} is not a SQLite database")
    return path.resolve()


def resolve_snapshot(captures: Iterable[Capture], config: ParityConfig) -> CaptureSnapshot | None:
    """The snapshot the captures' headers name (None: they name none, the configured one is
    used). Looked up in order: ``[traffic.snapshots]`` (a name -> a SQLite file relative to
    parity.toml), ``seed N`` (the configured seed command with that seed), then a path to a
    SQLite file (absolute, or relative to the capture file, then to the working directory)."""
    named: dict[str, Capture] = {}
    for cap in captures:
        if cap.header.snapshot:
            named.setdefault(cap.header.snapshot, cap)
    if not named:
        return None
    if len(named) > 1:
        listed = ", ".join(f"{n!r} ({c.source})" for n, c in named.items())
        raise TrafficError(f"the traffic files start from different snapshots: {listed}")
    name, cap = next(iter(named.items()))
    source = cap.source
    mapped = config.traffic.snapshots.get(name)
    if mapped is not None:
        return CaptureSnapshot(name, file=_sqlite_file(config.resolve(mapped), name, source))
    seed = _SEED.match(name.strip())
    if seed:
        if config.snapshot is None:
            raise TrafficError(
                f"{source}: the capture starts from snapshot {name!r}, and {config.source} has "
                "no [snapshot] command to build it"
            )
        return CaptureSnapshot(name, seed=int(seed.group(1)))
    given = Path(name).expanduser()
    candidates = [given] if given.is_absolute() else [Path(source).parent / given, given]
    for path in candidates:
        if path.is_file():
            return CaptureSnapshot(name, file=_sqlite_file(path, name, source))
    known = ", ".join(sorted(config.traffic.snapshots)) or "none"
    raise TrafficError(
        f"{source}: the capture starts from snapshot {name!r}: no such SQLite file "
        f"({', '.join(str(p) for p in candidates)}), not a name in [traffic.snapshots] "
        f"(known: {known}) and not 'seed N'"
    )
