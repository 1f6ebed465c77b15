"""Reads after writes: a successful write is followed, before the restore, by the reads
whose answers depend on what it wrote, on both sides, so a new row's values reach every
list, item, search, count, aggregate and export that reads them (otherwise every read runs
on the restored snapshot only, and a port that caches, counts, exports or serializes
run-created rows differently is never seen).

Which reads (:func:`plan`), at most ``Profile.readback_max`` per write:

- the written row's own item first (its id from the write's path or answer, each side its
  own);
- the reads the run has learned the write's tables affect: after each write, every read
  without path parameters that was sent after it is compared (status and body under the
  run's normalization rules, the legacy's answer) with the same request on the restored
  snapshot; a read whose answer changed is remembered for each table the write touched
  (:class:`Affects`), and later writes of that operation touching that table send it first,
  the most often changed first. What is learned is kept per write operation (over its
  phases), and a read's query comes from the contract, not from what other operations'
  cases did: a ``--shard`` holds each write operation with all its cases, so it learns and
  sends what one whole run does (``--shard`` + merge equals one run);
- then reads still being explored, least tried first: those whose path names a touched
  table (``/api/alerts/count`` after a write to ``alerts``) before every other safe
  operation without path parameters (lists, exports, search, counts, aggregates), these in
  an order drawn from the run's seed; a write always explores one when the learned reads
  fill its budget;
- reads tried ``QUIET_AFTER`` times after writes to these tables without a change come last.

A read without path parameters is sent with the contract's query values, in turn per write
operation (:func:`queries`): its required parameters at their first example (``/api/search?q=
refund``; else enum value, else default), then each example of each parameter on top of them
(``/api/export?resource=cases&format=json``); a read whose required parameters have no value
is left out.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness.cases.generation import build_request
from harness.cases.sequences import fill
from harness.models import ExchangeResult, PreparedRequest, Response

if TYPE_CHECKING:
    from harness.run.context import RunContext
    from harness.setup.contract import Operation

__all__ = [
    "QUIET_AFTER",
    "Affects",
    "ReadBack",
    "bare_query",
    "open_reads",
    "plan",
    "queries",
    "reads_for",
]

QUIET_AFTER = 2  # tries after writes to a table without a change: the read is quiet for it
_PARAM = re.compile(r"\{([^}]+)\}")
_SAFE = ("GET",)
_VOLATILE = "volatile"  # a read whose answer on the snapshot differs between two sends

Read = tuple["Operation", dict[str, Any]]


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


def _item_of(op: Operation, write: Operation) -> bool:
    return op.path in (write.path, write.path.rstrip("/") + "/{id}")


def reads_for(
    ops: list[Operation], write: Operation, req: PreparedRequest, tables: set[str]
) -> list[tuple[Operation, dict[str, Any]]]:
    """(read, the path parameters it can take from the write) for the reads a write of
    ``tables`` affects by name, the written item first; reads with a path parameter the
    write cannot give are left out."""
    given = dict(req.path_params)
    out: list[tuple[int, Operation, dict[str, Any]]] = []
    for op in ops:
        if op.method.upper() not in _SAFE or op.api is None:
            continue
        names = _PARAM.findall(op.path)
        params = {n: given[n] for n in names if n in given}
        item_of_write = _item_of(op, write)
        if len(params) < len(names) and not (item_of_write and names[-1] == "id"):
            continue
        if not (item_of_write or _names_table(op, tables)):
            continue
        rank = 0 if item_of_write and names else 1 if not names else 2
        out.append((rank, op, params))
    out.sort(key=lambda t: t[0])
    return [(op, params) for _, op, params in out]


def open_reads(ops: list[Operation]) -> list[Operation]:
    """The safe operations that need no path parameter: lists, exports, search, counts,
    aggregates."""
    return [
        op
        for op in ops
        if op.method.upper() in _SAFE and op.api is not None and not _PARAM.findall(op.path)
    ]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _values(definition: dict[str, Any]) -> list[Any]:
    """A query parameter's documented values: its examples, then its enum values, then its
    default, each once."""
    schema = definition.get("schema") or {}
    values: list[Any] = []
    for source in (schema.get("examples"), definition.get("examples")):
        if isinstance(source, list):
            values += source
        elif isinstance(source, dict):
            values += [v["value"] for v in source.values() if isinstance(v, dict) and "value" in v]
    values += [where["example"] for where in (definition, schema) if "example" in where]
    values += list(schema.get("enum") or [])
    if "default" in schema:
        values.append(schema["default"])
    out: list[Any] = []
    for value in values:
        if value is not None and value not in out:
            out.append(value)
    return out


def _params(op: Operation) -> list[tuple[str, bool, list[Any]]]:
    out = []
    for param in getattr(op.api, "query", []) or []:
        definition = getattr(param, "definition", {}) or {}
        out.append((param.name, bool(definition.get("required")), _values(definition)))
    return out


def bare_query(op: Operation) -> list[tuple[str, str]] | None:
    """The required query parameters at their first documented value (example, else enum
    value, else default); None when one has none."""
    out: list[tuple[str, str]] = []
    for name, required, values in _params(op):
        if required:
            if not values:
                return None
            out.append((name, _text(values[0])))
    return out


def queries(op: Operation) -> list[list[tuple[str, str]]]:
    """The queries a read after a write is sent with, in turn: :func:`bare_query`, then each
    documented value of each parameter on top of it (a required one in its place); none
    when a required parameter has no value."""
    bare = bare_query(op)
    if bare is None:
        return []
    out = [bare]
    for name, _required, values in _params(op):
        for value in values:
            if (name, _text(value)) in bare:
                continue
            query = [(k, v) for k, v in bare if k != name] + [(name, _text(value))]
            if query not in out:
                out.append(query)
    return out


@dataclass
class Affects:
    """What one write operation taught: per table it touched, how often each read's answer
    changed after it (``changed``) and how often the read was tried (``tried``)."""

    changed: dict[str, Counter[str]]
    tried: dict[str, Counter[str]]

    def learn(self, tables: set[str], read: str, changed: bool) -> None:
        for table in tables:
            self.tried.setdefault(table, Counter())[read] += 1
            if changed:
                self.changed.setdefault(table, Counter())[read] += 1

    def hits(self, tables: set[str], read: str) -> int:
        return sum(self.changed.get(t, Counter())[read] for t in tables)

    def tries(self, tables: set[str], read: str) -> int:
        """The fewest tries after a write to one of ``tables``."""
        return min((self.tried.get(t, Counter())[read] for t in tables), default=0)

    def quiet(self, tables: set[str], read: str) -> bool:
        return self.hits(tables, read) == 0 and self.tries(tables, read) >= QUIET_AFTER


def plan(
    ops: list[Operation],
    write: Operation,
    req: PreparedRequest,
    tables: set[str],
    affects: Affects,
    budget: int,
    order: dict[str, int] | None = None,
) -> list[Read]:
    """The reads to send after a write of ``tables``, at most ``budget``, in the order the
    module's docstring gives; ``order`` (read id -> rank, from the seed) orders the reads
    found neither by name nor by learning."""
    if budget <= 0:
        return []
    named = reads_for(ops, write, req, tables)
    seen = {op.id for op, _ in named}
    rest: list[Read] = [(op, {}) for op in open_reads(ops) if op.id not in seen]
    rest.sort(key=lambda r: (order or {}).get(r[0].id, 0))
    ranked: list[tuple[tuple[Any, ...], Read]] = []
    for position, (op, params) in enumerate(named + rest):
        hits = affects.hits(tables, op.id)
        if _item_of(op, write) and _PARAM.findall(op.path):
            key: tuple[Any, ...] = (0, 0, position)
        elif hits:
            key = (1, -hits, position)
        elif affects.quiet(tables, op.id):
            key = (4, 0, position)
        else:  # exploring: least tried first, then named before the others
            key = (2, affects.tries(tables, op.id), int(op.id not in seen), position)
        ranked.append((key, (op, params)))
    ranked.sort(key=lambda t: t[0])
    chosen = ranked[:budget]
    exploring = [r for r in ranked[budget:] if r[0][0] == 2]
    if budget >= 2 and exploring and not any(k[0] == 2 for k, _ in chosen):
        chosen[-1] = exploring[0]  # learned reads fill the budget: one still explores
    return [read for _, read in chosen]


def _digest(ctx: RunContext, req: PreparedRequest, resp: Response) -> str:
    """The answer as compared: the status and the body under the run's normalization rules."""
    body = resp.body if resp.body is not None else resp.text
    body = ctx.rules(req.operation, req).normalize_body(body)
    raw = json.dumps([resp.status, body], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


class ReadBack:
    """Sends the reads after each successful write (``ctx.exchange`` with the state kept),
    records what differs as a two-step sequence: the write, then the read, and learns which
    reads each table's writes affect (kept in ``ctx.stats`` across phases)."""

    def __init__(self, ctx: RunContext, budget: int) -> None:
        self.ctx = ctx
        self.budget = budget  # writes followed, per operation and phase
        self.per_write = ctx.profile.readback_max  # reads after one write
        self.followed: dict[str, int] = {}
        self.reads = 0
        self.writes = 0
        reads = sorted(op.id for op in open_reads(ctx.everything))
        random.Random(f"{ctx.seed}:readback").shuffle(reads)
        self.order = {read: i for i, read in enumerate(reads)}
        self.turn: Counter[tuple[str, str]] = Counter()  # per (write, read): query in turn

    def wants(self, op: Operation, req: PreparedRequest) -> bool:
        """Whether this write should keep its state for reads (before it is sent)."""
        ctx = self.ctx
        return (
            self.budget > 0
            and self.per_write > 0
            and req.method.upper() not in ("GET", "HEAD", "OPTIONS")
            and req.mode in ("positive", "combined")
            and bool(ctx.pair.watchers)
            and not ctx.pair.has_twin
            and not ctx.ends_session(op.id)
            and self.followed.get(op.id, 0) < self.budget
        )

    def follow(self, op: Operation, result: ExchangeResult) -> None:
        """The reads after ``result`` (sent with ``restore=False``); then the restore, and
        what the reads' answers teach about the tables the write touched."""
        ctx = self.ctx
        tables: set[str] = set()
        sent: list[ExchangeResult] = []
        try:
            if not ctx.stats.succeeded(op, result.legacy.status, result.candidate.status):
                return
            tables = set(result.legacy_writes or {}) | set(result.candidate_writes or {})
            if not tables:
                return
            # the engine's own bookkeeping (sqlite_sequence) says nothing about what a read shows
            tables = {t for t in tables if not t.startswith("sqlite_")} or tables
            self.followed[op.id] = self.followed.get(op.id, 0) + 1
            self.writes += 1
            ids = (_id_of(result.legacy.body), _id_of(result.candidate.body))
            affects = self.affects(op)
            reads = plan(
                ctx.everything, op, result.request, tables, affects, self.per_write, self.order
            )
            for read, params in reads:
                got = self._read(op, read, params, result, ids)
                if _PARAM.findall(read.path):
                    continue
                if got is None:  # no query to send it with: tried, so it does not stay first
                    affects.learn(tables, read.id, changed=False)
                else:
                    sent.append(got)
        finally:
            ctx.pair.restore(wrote=True)
        if sent:
            self._learn(op, tables, sent)

    def affects(self, op: Operation) -> Affects:
        """What the writes of ``op`` taught so far (kept in ``ctx.stats`` over the phases)."""
        stats = self.ctx.stats
        return Affects(
            stats.affected.setdefault(op.id, {}), stats.affect_tries.setdefault(op.id, {})
        )

    def _learn(self, op: Operation, tables: set[str], sent: list[ExchangeResult]) -> None:
        """Each read's answer after the write against the same request on the restored
        snapshot (the legacy's, sent twice once per request: an answer that differs between
        the two is volatile and teaches nothing)."""
        ctx = self.ctx
        baselines = ctx.stats.snapshot_answers
        asked = False
        for result in sent:
            req = result.request
            key = repr((req.signature(), req.role))
            if key not in baselines:
                asked = True
                first, second = (
                    _digest(ctx, req, ctx.pair.send_one("legacy", req)) for _ in range(2)
                )
                baselines[key] = first if first == second else _VOLATILE
            # a volatile answer is tried and never counts as changed: it goes quiet
            changed = baselines[key] != _VOLATILE and (
                _digest(ctx, req, result.legacy) != baselines[key]
            )
            self.affects(op).learn(tables, req.operation, changed)
        if asked:
            ctx.pair.restore(wrote=True)  # a read may write (a search's analytics row)

    def _requests(
        self,
        op: Operation,
        read: Operation,
        params: dict[str, Any],
        write: ExchangeResult,
        ids: tuple[Any, Any],
    ) -> tuple[PreparedRequest, PreparedRequest | None] | None:
        query: list[tuple[str, str]] = []
        if not _PARAM.findall(read.path):
            turns = queries(read)
            if not turns:
                return None
            self.turn[(op.id, read.id)] += 1
            query = turns[(self.turn[(op.id, read.id)] - 1) % len(turns)]
        base = build_request(
            operation=read.id,
            method=read.method.upper(),
            path=read.path,
            query=query,
            headers=(),
            role=write.request.role,
            mode="positive",
        )
        lreq, creq = fill(base, read.path, params), None
        if "id" in _PARAM.findall(read.path) and "id" not in params:
            if ids[0] is None or ids[1] is None:
                return None
            lreq = fill(base, read.path, {**params, "id": ids[0]})
            if ids[1] != ids[0]:
                creq = fill(base, read.path, {**params, "id": ids[1]})
        return lreq, creq

    def _read(
        self,
        op: Operation,
        read: Operation,
        params: dict[str, Any],
        write: ExchangeResult,
        ids: tuple[Any, Any],
    ) -> ExchangeResult | None:
        ctx = self.ctx
        requests = self._requests(op, read, params, write, ids)
        if requests is None:
            return None
        lreq, creq = requests
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
        return result

    def note(self, phase: str) -> None:
        """How many reads followed how many writes, and what the run learned, in its notes."""
        if not self.writes:
            return
        notes = self.ctx.stats.notes
        notes.append(
            f"{phase}: {self.reads} read(s) after {self.writes} write(s), before the restore"
        )
        learned = []
        for write, tables in sorted(self.ctx.stats.affected.items()):
            reads = {read for counts in tables.values() for read in counts}
            if reads and write in self.followed:
                learned.append(f"{write} -> {', '.join(sorted(reads))}")
        if learned:
            notes.append(
                f"{phase}: reads whose answers changed after writes: " + "; ".join(learned)
            )
