"""Writes the gateway knows of, so a comparison of two reads can tell it raced one.

A read compared while a write was in flight, or across a write that finished meanwhile, may
show the two sides on either side of that write: such a read is *raced* and read again
(``worker.recheck``). One gateway counts its own writes in two integers shared with its
worker process (``multiprocessing.RawArray``). Several gateway instances behind one proxy
(``[gateway] instance``) each see only their share of the writes, so a read on one instance
could straddle a write that went through another: ``[gateway] shared_writes`` names a small
file every instance on the machine maps, holding two counters that only grow (writes
started, writes done; an update under ``flock``). A read is raced when either instance-wide
count moved during it; a write that another instance started before the read and finishes
after it is not seen (nothing moves while the read runs), and nothing is left to clean up
when an instance dies mid-write (no in-flight count that would stay up).
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import multiprocessing
import os
from pathlib import Path
from typing import Any

__all__ = ["Snapshot", "WriteCounters"]

Snapshot = tuple[int, int, int, int]
"""(this gateway's writes in flight, its writes done, all instances' writes started, done)"""

_SIZE = 16  # two signed 64-bit counters


class _SharedFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):
            if os.fstat(self._fd).st_size < _SIZE:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                try:
                    if os.fstat(self._fd).st_size < _SIZE:
                        os.ftruncate(self._fd, _SIZE)
                finally:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, _SIZE)
        self._view = memoryview(self._map).cast("q")

    def read(self) -> tuple[int, int]:
        return int(self._view[0]), int(self._view[1])

    def add(self, index: int) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._view[index] += 1
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class WriteCounters:
    """This gateway's [writes in flight, writes done] and, with ``shared``, the counts of
    every instance mapping that file. Picklable for the spawned worker (the array travels as
    shared memory, the file by its path)."""

    def __init__(self, shared: Path | None = None, *, array: Any = None) -> None:
        self._array = (
            array if array is not None else multiprocessing.get_context("spawn").RawArray("q", 2)
        )
        self._shared_path = shared
        self._shared = _SharedFile(shared) if shared is not None else None

    def __getstate__(self) -> dict[str, Any]:
        return {"array": self._array, "shared": self._shared_path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["shared"], array=state["array"])  # type: ignore[misc]

    def snapshot(self) -> Snapshot:
        started, done = self._shared.read() if self._shared is not None else (0, 0)
        return int(self._array[0]), int(self._array[1]), started, done

    def started(self) -> None:
        """A write is sent to the legacy."""
        self._array[0] += 1
        if self._shared is not None:
            self._shared.add(0)

    def done(self) -> None:
        """That write answered (or failed)."""
        self._array[0] -= 1
        self._array[1] += 1
        if self._shared is not None:
            self._shared.add(1)

    def applied(self) -> None:
        """A write applied by someone else (a mirrored write: the legacy has the original)."""
        self._array[1] += 1
        if self._shared is not None:
            self._shared.add(0)
            self._shared.add(1)

    @staticmethod
    def raced(before: Snapshot, after: Snapshot) -> bool:
        """A write of this gateway was in flight at either end, or any count moved between."""
        return before[0] > 0 or after[0] > 0 or before[1:] != after[1:]
