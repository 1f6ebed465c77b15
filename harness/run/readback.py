"""Reads after writes: a successful write is followed, before the restore, by the reads
whose answers depend on what it wrote, on both sides, so a new row's values reach every
list, item and aggregate that reads them (otherwise every read runs on the restored
snapshot only, and a port that caches, counts or serializes run-created rows differently
is never seen).

Which reads: learned from the write's database diff. A safe operation whose path names a
table the write touched (``/api/alerts/count`` after a write to ``alerts``; ``/api/events``
after any write that left an audit row), the written row's own item first (its id from the
write's path or answer, each side its own), then the lists, at most ``PER_WRITE`` per write.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from harness.cases.generation import build_request
from harness.cases.sequences import fill
from harness.models import ExchangeResult, PreparedRequest

if TYPE_CHECKING:
    from harness.run.context import RunContext
    from harness.setup.contract import Operation

__all__ = ["PER_WRITE", "ReadBack", "reads_for"]

PER_WRITE = 3  # reads after one write: the item, then the lists of the touched tables
_PARAM = re.compile(r"\{([^}]+)\}")
_SAFE = ("GET",)


def _words(name: str) -> set[str]:
    """A table's or a path segment's words, singular: ``feed_items`` -> {feed, item}."""
    out = set()
    for word in re.split(r"[_\-.]", name.lower()):
        if word:
            out.add(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return out


def _names_table(op: Operation, tables: set[str]) -> bool:
    """A path segment shares a word with a touched table (``/api/feed``: ``feed_items``)."""
    segments = [s for s in op.path.split("/") if s and not s.startswith("{")]
    seg_words = {w for s in segments for w in _words(s)}
    return any(seg_words & _words(t) for t in tables)


def _id_of(body: Any) -> Any:
    if isinstance(body, dict):
        for key in ("id", "data"):
            value = body.get(key)
            if key == "id" and isinstance(value, int | str) and not isinstance(value, bool):
                return value
            if key == "data" and isinstance(value, dict):
                return _id_of(value)
    return None


def reads_for(
    ops: list[Operation], write: Operation, req: PreparedRequest, tables: set[str]
) -> list[tuple[Operation, dict[str, Any]]]:
    """(read, the path parameters it can take from the write) for the reads a write of
    ``tables`` affects, the written item first; reads with a path parameter the write
    cannot give are left out."""
    given = dict(req.path_params)
    out: list[tuple[int, Operation, dict[str, Any]]] = []
    for op in ops:
        if op.method.upper() not in _SAFE or op.api is None:
            continue
        names = _PARAM.findall(op.path)
        params = {n: given[n] for n in names if n in given}
        item_of_write = op.path in (write.path, write.path.rstrip("/") + "/{id}")
        if len(params) < len(names) and not (item_of_write and names[-1] == "id"):
            continue
        if not (item_of_write or _names_table(op, tables)):
            continue
        rank = 0 if item_of_write and names else 1 if not names else 2
        out.append((rank, op, params))
    out.sort(key=lambda t: t[0])
    return [(op, params) for _, op, params in out]


class ReadBack:
    """Sends the reads after each successful write (``ctx.exchange`` with the state kept)
    and records what differs as a two-step sequence: the write, then the read."""

    def __init__(self, ctx: RunContext, budget: int) -> None:
        self.ctx = ctx
        self.budget = budget  # writes followed, per operation and phase
        self.followed: dict[str, int] = {}
        self.reads = 0
        self.writes = 0

    def wants(self, op: Operation, req: PreparedRequest) -> bool:
        """Whether this write should keep its state for reads (before it is sent)."""
        ctx = self.ctx
        return (
            self.budget > 0
            and req.method.upper() not in ("GET", "HEAD", "OPTIONS")
            and req.mode in ("positive", "combined")
            and bool(ctx.pair.watchers)
            and not ctx.pair.has_twin
            and not ctx.ends_session(op.id)
            and self.followed.get(op.id, 0) < self.budget
        )

    def follow(self, op: Operation, result: ExchangeResult) -> None:
        """The reads after ``result`` (sent with ``restore=False``); then the restore."""
        ctx = self.ctx
        try:
            if not ctx.stats.succeeded(op, result.legacy.status, result.candidate.status):
                return
            tables = set(result.legacy_writes or {}) | set(result.candidate_writes or {})
            if not tables:
                return
            self.followed[op.id] = self.followed.get(op.id, 0) + 1
            self.writes += 1
            ids = (_id_of(result.legacy.body), _id_of(result.candidate.body))
            for read, params in reads_for(ctx.everything, op, result.request, tables)[:PER_WRITE]:
                self._read(read, params, result, ids)
        finally:
            ctx.pair.restore(wrote=True)

    def _read(
        self,
        read: Operation,
        params: dict[str, Any],
        write: ExchangeResult,
        ids: tuple[Any, Any],
    ) -> None:
        ctx = self.ctx
        base = build_request(
            operation=read.id,
            method=read.method.upper(),
            path=read.path,
            query=(),
            headers=(),
            role=write.request.role,
            mode="positive",
        )
        lreq, creq = fill(base, read.path, params), None
        if "id" in _PARAM.findall(read.path) and "id" not in params:
            if ids[0] is None or ids[1] is None:
                return
            lreq = fill(base, read.path, {**params, "id": ids[0]})
            if ids[1] != ids[0]:
                creq = fill(base, read.path, {**params, "id": ids[1]})
        phase, ctx.phase = ctx.phase, "readback"  # not the phase's proof: its own reads
        try:
            result = ctx.exchange(lreq, creq, restore=False)
        finally:
            ctx.phase = phase
        self.reads += 1
        # the writes compared are cumulative: the write's own differences are its finding
        mine = {d.location for d in write.differences}
        kept = [
            d
            for d in result.differences
            if not (d.location.startswith("db:") and d.location in mine)
        ]
        if len(kept) != len(result.differences):
            result = replace(result, differences=kept)
        ctx.stats.op(read).add(result, not ctx.findings.live(result))
        ctx.findings.add_readback(write, result)  # a two-step sequence of its own phase

    def note(self, phase: str) -> None:
        """How many reads followed how many writes, in the run's notes."""
        if self.writes:
            self.ctx.stats.notes.append(
                f"{phase}: {self.reads} read(s) after {self.writes} write(s), before the restore"
            )
