"""The traffic phase (``parity run --traffic FILE``): captured requests replayed against both
services in capture order, ids mapped, time shifted (the plan: ``harness.traffic.replay``)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import yaml

from harness.compare.findings import Group, reductions
from harness.compare.normalization import RuleSet
from harness.models import NOT_SET, Difference, ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext
from harness.run.streams import OPERATION as REALTIME_OPERATION
from harness.run.streams import (
    Subscriber,
    compare_stream,
    settle,
    stream_headers,
    stream_url,
)
from harness.setup.traffic import TrafficConfig
from harness.traffic.capture import REDACTED
from harness.traffic.gaps import find_gaps
from harness.traffic.reduce import chain
from harness.traffic.replay import (
    _ROW_KEY,
    _SKIP_HEADERS,
    ENTRY_HEADER,
    LABEL,
    IdMap,
    Step,
    TimeShift,
    TrafficPlan,
    _json,
    _shape,
)

__all__ = ["Causes", "Replay"]

_INSERTED = re.compile(r"^([^\[]+)\[\+(\d+)\](\..+)?$")


@dataclass
class _Stream:
    """One captured subscription, open on both sides."""

    path: str
    role: str | None
    legacy: Subscriber
    candidate: Subscriber
    rules: RuleSet


@dataclass
class Replay:
    """The phase (``parity run --traffic FILE``)."""

    plan: TrafficPlan
    settings: TrafficConfig = field(default_factory=TrafficConfig)
    name: str = "traffic"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    figures: dict[str, Any] = field(default_factory=dict)
    _base: str = ""
    _resign: frozenset[str] = frozenset()  # captured signature headers: the transport re-signs
    _messages: int = 0  # stream messages compared
    _cause: ExchangeResult | None = None  # the last replayed write: what stream messages follow

    def _request(self, step: Step, side: str, ids: IdMap, shift: TimeShift) -> PreparedRequest:
        req = step.exchange.request
        kept = [
            (k, v)
            for k, v in req.headers
            if k.lower() not in _SKIP_HEADERS
            and k.lower() not in self._resign
            and v != REDACTED
            and not k.startswith(":")
        ]
        headers = (*kept, (ENTRY_HEADER, step.entry))
        media = next((v for k, v in req.headers if k.lower() == "content-type"), None)
        if media is None and req.body is not None:
            media = req.body.media_type
        content: bytes | None = None
        body: Any = NOT_SET
        if req.body is not None:
            content = req.body.content()
            decoded = req.body.decoded() if req.body.text is not None else None
            if decoded is not None and "json" in (media or "json"):
                body = shift.body(ids.body(side, decoded))
                content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        query = tuple((k, shift.value(v)) for k, v in ids.query(side, req.query))
        path = ids.path(side, req.path)
        base = self._base
        if base and path.startswith(base):
            path = path[len(base) :] or "/"
        params = tuple((k, str(ids.sides[side].get(v, v))) for k, v in step.path_params)
        return PreparedRequest(
            operation=step.op.id,
            method=req.method,
            path=path,
            query=query,
            headers=headers,
            content=content,
            body=body,
            media_type=media.split(";")[0].strip() if media else None,
            role=step.role,
            mode="positive",
            shrinkable=body is not NOT_SET or content is None,
            path_params=params,
        )

    def execute(self, ctx: RunContext) -> None:
        plan = self.plan
        self._base = (
            ctx.config.base_path if ctx.config.base_path is not None else ctx.contract.base_path
        ).rstrip("/")
        signing = ctx.config.auth.signing if ctx.config.auth else None
        if signing is not None:
            # a captured signature signs the captured bytes at the captured time: the replay
            # sends other bytes (ids mapped, times moved), so the transport signs them anew
            # (idempotency keys and every other header travel as captured)
            names = (signing.signature_header, signing.timestamp_header)
            self._resign = frozenset(n.lower() for n in names if n)
        ctx.stats.warnings.extend(plan.warnings)
        for why, n in sorted(plan.skipped.items()):
            ctx.stats.notes.append(f"traffic: {n} captured requests not replayed: {why}")
        if not plan.steps:
            ctx.stats.warnings.append("traffic: no captured request matched the contract")
            ctx.stats.incomplete.append("the traffic replayed no request")
            return
        if plan.start is not None:
            ctx.stats.notes.append(
                f"traffic: both sides started from the capture's snapshot {plan.start.describe()}"
            )
        elif plan.snapshot:
            ctx.stats.notes.append(
                f"traffic: the capture names snapshot {plan.snapshot!r}; URL mode replays on "
                "the services' own state"
            )
        ctx.pair.restore()  # both sides from the snapshot, then never restored until the end
        # each request's writes are its own: the watchers' baseline moves after each read
        ctx.pair.stepwise = True
        started = time.perf_counter()
        shift = TimeShift(self.now() - plan.started if plan.started else timedelta(0))
        ids = IdMap()
        drift: Counter[str] = Counter()
        drift_examples: dict[str, str] = {}
        not_found = 0
        causes = Causes()  # rows written differently -> the entry that wrote them
        attributed = 0
        ctx.listener.operation_started(OperationStarted(label=LABEL, total=len(plan.steps)))
        stack = ExitStack()
        try:
            streams = self._open_streams(ctx, stack)
            for n, step in enumerate(plan.steps):
                lreq = self._request(step, "legacy", ids, shift)
                creq = self._request(step, "candidate", ids, shift)
                result = ctx.exchange(lreq, creq if creq != lreq else None, restore=False)
                streams_agree = self._follow(ctx, streams, result)
                answer = step.exchange.answer
                captured = _json(answer.body.text) if answer and answer.body else None
                if lreq.method not in ("GET", "HEAD", "OPTIONS") and answer is not None:
                    # ids the traffic learned: from what a write created (its answer)
                    for side, resp in (("legacy", result.legacy), ("candidate", result.candidate)):
                        if 200 <= answer.status < 300 and 200 <= resp.status < 300:
                            ids.learn(captured, side, resp.body)
                if answer is not None:
                    what = self._environment(answer.status, captured, result)
                    if what:
                        key = f"{step.op.id}: {what}"
                        drift[key] += 1
                        drift_examples.setdefault(key, step.entry)
                if result.legacy.status == 404 and result.candidate.status == 404:
                    not_found += 1
                fresh = causes.attribute(step, result)
                attributed += len(result.differences) - len(fresh)
                result = replace(result, differences=fresh)
                agreed = not ctx.findings.live(result)
                ctx.stats.op(step.op).add(result, agreed)
                known = set(ctx.findings.groups)
                ctx.findings.record(result, "traffic")
                fresh_groups = [g for k, g in ctx.findings.groups.items() if k not in known]
                if fresh_groups and ctx.profile.shrink:
                    self._shrink(ctx, fresh_groups, lreq, creq)
                    self._drain(ctx, streams)  # the events of the shrinking's requests
                ctx.listener.case_done(CaseDone(label=LABEL, agreed=agreed and streams_agree))
                if n % 25 == 24:
                    ctx.pair.check_alive()
            if streams and plan.steps:  # what the last requests' events (and jobs') brought
                self._follow(ctx, streams, result, grace=self._waits(ctx)[0])
        finally:
            stack.close()  # the streams first: the restore below would push no event
            ctx.pair.stepwise = False
            ctx.pair.restore()
        elapsed = time.perf_counter() - started
        self._sources(ctx)
        total = len(plan.steps)
        self.figures = {
            "requests": total,
            "seconds": round(elapsed, 3),
            "pairs_per_s": round(total / elapsed, 1) if elapsed else 0.0,
            "ids_mapped": ids.count(),
            "environment_drift": sum(drift.values()),
            "not_found_both": not_found,
            "attributed": attributed,
            "time_shift_s": round(shift.delta.total_seconds()),
        }
        if streams:
            self.figures["stream_messages"] = self._messages
            roles = ", ".join(sorted({s.role or "anonymous" for s in streams}))
            ctx.stats.notes.append(
                f"traffic: {len(streams)} realtime subscription(s) of the capture opened on both "
                f"sides ({roles}); {self._messages} messages compared after each request"
            )
        ctx.stats.notes.append(
            f"traffic: replayed {total} requests in {elapsed:.1f}s "
            f"({self.figures['pairs_per_s']} pairs/s), {ids.count()} ids mapped "
            f"({', '.join(f'{k} x{v}' for k, v in ids.learned_from.most_common(5))}), "
            f"times moved by {shift.delta}"
        )
        self._gaps(ctx)
        if attributed:
            ctx.stats.notes.append(
                f"traffic: {attributed} later differences on rows an earlier request wrote "
                "differently were attributed to that request (its finding)"
            )
        if drift:
            listed = "; ".join(
                f"{k} x{v} (first {drift_examples[k]})" for k, v in drift.most_common(8)
            )
            ctx.stats.warnings.append(
                f"traffic: environment drift, not the port's: {sum(drift.values())} of {total} "
                f"requests answered differently on the legacy than when captured (the snapshot "
                f"is not the state the traffic saw): {listed}"
            )
        if not_found > total * self.settings.unproven_share:
            message = (
                f"traffic: {not_found} of {total} replayed requests answered 404 on both sides: "
                "the replay found nothing to act on and proves nothing (does the snapshot hold "
                "the rows the traffic used?)"
            )
            ctx.stats.warnings.append(message)
            ctx.stats.incomplete.append(message)

    # -- the capture's realtime subscriptions, followed on both sides ---------------------------
    def _open_streams(self, ctx: RunContext, stack: ExitStack) -> list[_Stream]:
        """Each channel the capture subscribed to, opened on both sides as its subscriber's
        role for the whole replay (no restart while they are open); the greetings compared."""
        if not self.plan.subscriptions:
            return []
        stack.enter_context(ctx.pair.holding_restarts())
        streams = []
        for sub in self.plan.subscriptions:
            legacy, candidate = (
                stack.enter_context(
                    Subscriber(
                        stream_url(ctx, side, sub.path), stream_headers(ctx, side, sub.role)
                    ).running()
                )
                for side in ("legacy", "candidate")
            )
            rules = ctx.rules(REALTIME_OPERATION.format(path=sub.path))
            streams.append(_Stream(sub.path, sub.role, legacy, candidate, rules))
        quiet, limit = self._waits(ctx)
        settle([(s.legacy, s.candidate) for s in streams], quiet, quiet, limit)  # greetings
        for s in streams:
            lm, cm = s.legacy.take(), s.candidate.take()
            self._messages += len(lm) + len(cm)
            compare_stream(ctx, s.rules, s.role, lm, cm, None, s.path)
            who = f"{s.path} stream for {s.role or 'anonymous'}"
            if s.legacy.closed != s.candidate.closed:  # one side refused or ended it
                ctx.stats.warnings.append(
                    f"traffic: the {who}: legacy {s.legacy.closed or 'open'}, candidate "
                    f"{s.candidate.closed or 'open'}"
                )
            elif s.legacy.closed:  # both alike (an anonymous subscription refused, say)
                ctx.stats.notes.append(f"traffic: the {who}: {s.legacy.closed} on both sides")
        return streams

    @staticmethod
    def _waits(ctx: RunContext) -> tuple[float, float]:
        cfg = ctx.config.realtime
        return (cfg.quiet_ms / 1000, cfg.timeout_s) if cfg else (0.3, 5.0)

    def _follow(
        self,
        ctx: RunContext,
        streams: list[_Stream],
        result: ExchangeResult,
        grace: float | None = None,
    ) -> bool:
        """What each role's two streams received since the last request, compared as the
        events of the last write (``result`` when it is one: a read causes no event, so a
        message that arrives while the reads after a write are replayed is still that
        write's); True when they agree. After a write the streams get a moment (``grace``: a
        fifth of ``quiet_ms``, at least 50 ms) to receive its events; a pair of streams that
        holds different counts is waited on until quiet."""
        if not streams:
            return True
        quiet, limit = self._waits(ctx)
        write = result.request.method not in ("GET", "HEAD", "OPTIONS")
        if write:
            self._cause = result
        if grace is None:
            grace = max(0.05, quiet / 5) if write else 0.0
        result = self._cause or result
        settle([(s.legacy, s.candidate) for s in streams], min(grace, quiet), quiet, limit)
        agreed = True
        for s in streams:
            lm, cm = s.legacy.take(), s.candidate.take()
            if lm or cm:
                self._messages += len(lm) + len(cm)
                agreed &= not compare_stream(ctx, s.rules, s.role, lm, cm, result, s.path)
        return agreed

    def _drain(self, ctx: RunContext, streams: list[_Stream]) -> None:
        if streams:
            quiet, limit = self._waits(ctx)
            settle([(s.legacy, s.candidate) for s in streams], quiet, quiet, limit)
            for s in streams:
                s.legacy.take()
                s.candidate.take()

    def _gaps(self, ctx: RunContext) -> None:
        """What the traffic used that the contract leaves out, per operation (in the results,
        the console and the report), and an Overlay beside results.json that adds it."""
        captures = list(self.plan.captures.values())
        gaps = find_gaps(captures, ctx.contract, self._base)
        found = gaps.found()
        summary: dict[str, Any] = {
            "files": [c.source for c in captures],
            "figures": self.figures,
            "gaps": [
                {
                    "operation": g.operation,
                    "in_contract": g.known,
                    "query_parameters": sorted(g.params),
                    "request_headers": sorted(g.headers),
                    "statuses": sorted(g.statuses),
                    "request_media_types": sorted(g.request_media),
                    "response_media_types": sorted(g.response_media),
                    "response_fields": sorted(g.fields),
                }
                for g in found
            ],
        }
        if found:
            relative = "traffic/overlay.yaml"
            try:
                (ctx.run_dir / "traffic").mkdir(parents=True, exist_ok=True)
                (ctx.run_dir / relative).write_text(
                    yaml.safe_dump(gaps.overlay(), sort_keys=False), encoding="utf-8"
                )
            except OSError as exc:
                ctx.stats.warnings.append(f"traffic: could not write {relative}: {exc}")
            else:
                summary["overlay"] = relative
            ctx.stats.notes.append(
                f"traffic: the contract leaves out what {len(found)} operation(s) of the "
                f"traffic used (results: traffic.gaps; suggested Overlay: {relative})"
            )
        ctx.stats.traffic = summary

    @staticmethod
    def _shrink(
        ctx: RunContext, groups: list[Group], lreq: PreparedRequest, creq: PreparedRequest
    ) -> None:
        """A new finding's example made smaller where the shrinker can: a read, shrunk on
        both sides in lockstep (each side keeps its own mapped ids), never restored (a restore
        would go back to the snapshot and lose the rows the traffic built). A write is kept as
        captured: the state after it is not the state before it."""
        if lreq.method not in ("GET", "HEAD", "OPTIONS"):
            return
        budget = ctx.profile.shrink_budget
        improved = True
        while improved and budget > 0:
            improved = False
            for small_l, small_c in zip(reductions(lreq), reductions(creq), strict=False):
                if budget <= 0:
                    break
                if not any(k == ENTRY_HEADER for k, _ in small_l.headers):
                    continue  # the entry it came from stays named
                budget -= 1
                # not restored: a restore goes back to the snapshot, wiping the rows the
                # traffic built so far; a read sent to both sides keeps them in step
                other = small_c if small_c != small_l else None
                result = ctx.exchange(small_l, other, restore=False)
                places = {(d.location, d.kind, d.cause): d for d in result.differences}
                if all((g.location, g.kind, g.cause) in places for g in groups):
                    for g in groups:
                        g.example = result
                        g.difference = places[(g.location, g.kind, g.cause)]
                    lreq, creq = small_l, small_c
                    improved = True
                    break

    def _sources(self, ctx: RunContext) -> None:
        """For each traffic finding's example: the capture entry it came from, and beside
        results.json a capture of that entry with the requests it needs (its chain), which
        ``parity run --traffic`` replays from the snapshot."""
        steps = {s.entry: s for s in self.plan.steps}
        for group in ctx.findings.all_groups():
            if group.phase != "traffic":
                continue
            entry = next((v for k, v in group.example.request.headers if k == ENTRY_HEADER), "")
            step = steps.get(entry)
            if step is None or entry in ctx.stats.sources:
                continue
            name, _, seq = entry.rpartition("#")
            capture = self.plan.captures.get(name)
            info: dict[str, Any] = {
                "entry": entry,
                "file": capture.source if capture else name,
                "seq": int(seq),
                "caller": step.exchange.caller,
                "request": step.exchange.request.model_dump(mode="json"),
                "status": step.exchange.answer.status if step.exchange.answer else None,
            }
            if capture is not None:
                needed = chain(capture, int(seq))
                relative = f"traffic/{re.sub(r'[^A-Za-z0-9._-]', '_', entry)}.jsonl"
                try:
                    (ctx.run_dir / "traffic").mkdir(parents=True, exist_ok=True)
                    needed.write(ctx.run_dir / relative)
                except OSError as exc:
                    ctx.stats.warnings.append(f"traffic: could not write {relative}: {exc}")
                else:
                    info["chain"] = relative
                    info["chain_length"] = len(needed.exchanges)
            ctx.stats.sources[entry] = info

    @staticmethod
    def _environment(status: int, captured: Any, result: ExchangeResult) -> str | None:
        """How the legacy's replay answer differs from the captured one, if it does."""
        now = result.legacy
        if status != now.status:
            return f"captured {status}, legacy now {now.status}"
        if (
            captured is not None
            and isinstance(now.body, (dict, list))
            and _shape(captured) != _shape(now.body)
        ):
            return "captured body has another shape"
        return None


@dataclass
class Causes:
    """Which earlier request a replayed request's differences belong to.

    Each request's writes are diffed on their own (the watchers' baseline moves after each
    request), so a row one request wrote differently keeps differing only where later
    requests write or read it: a later difference in the same column of that row (any
    column, and any row-set difference naming it, when one side alone inserted, updated or
    deleted it), and a body difference on a request whose path or query names its key,
    belong to the first request."""

    cells: dict[str, str] = field(default_factory=dict)  # "table[rowid=K].column" -> entry
    # (table, key) -> the entry that inserted, updated or deleted that row on one side only
    rows: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # a row key's value -> entry

    def attribute(self, step: Step, result: ExchangeResult) -> list[Difference]:
        """``result``'s differences that no earlier request caused (those it caused are
        left out, and counted by the caller); the ones kept mark the rows they name."""
        fresh: list[Difference] = []
        named = {unquote(p) for p in step.exchange.request.path.split("/") if p}
        named |= {v for _, v in step.exchange.request.query}
        for sent in (result.request, result.candidate_request):  # ids as mapped per side:
            if sent is not None:  # a row key in a write difference is a side's own id
                named |= {unquote(p) for p in sent.path.split("/") if p}
                named |= {v for _, v in sent.query}
        for diff in result.differences:
            db = diff.location.startswith("db:")
            if db:
                cells, rows = _places(diff, result)
                first = next((self.cells[c] for c in cells if c in self.cells), None)
                if first is None:  # a row one side alone inserted, updated or deleted
                    first = next((self.rows[r] for r in rows if r in self.rows), None)
            else:
                first = next((self.keys[v] for v in named if v in self.keys), None)
            if first is not None and first != step.entry:
                continue
            if db:
                for cell in cells:
                    self.cells.setdefault(cell, step.entry)
                for row in rows:
                    if not cells:  # a row-set difference: the whole row differs from now on
                        self.rows.setdefault(row, step.entry)
                    self.keys.setdefault(row[1], step.entry)
            fresh.append(diff)
        return fresh


def _places(diff: Difference, result: ExchangeResult) -> tuple[list[str], list[tuple[str, str]]]:
    """The cells (``table[rowid=K].column``) and rows (table, key) a write difference is
    about, on either side. An inserted row's difference (``table[+n].column``: the n-th
    insert of the request) is named by each side's key of that row."""
    table = diff.location[3:].split(".", 1)[0]
    hit = _INSERTED.match(diff.path)
    if hit is not None:
        n, column = int(hit.group(2)), hit.group(3) or ""
        keys = []
        for writes in (result.legacy_writes, result.candidate_writes):
            inserted = writes[table].inserted if writes and table in writes else []
            if n < len(inserted) and inserted[n].get("rowid") is not None:
                keys.append(str(inserted[n]["rowid"]))
        return [f"{table}[rowid={k}]{column}" for k in keys], [(table, k) for k in keys]
    found = _ROW_KEY.findall(diff.path)
    if found:
        return [diff.path], [(table, k) for k in found]
    rows: list[tuple[str, str]] = []
    for side in (diff.legacy, diff.candidate):  # rows updated or deleted on one side only
        if isinstance(side, list):
            rows += [(table, str(k)) for k in side if isinstance(k, (int, str))]
    if diff.kind == "db_insert":  # rows inserted, counted differently
        for writes in (result.legacy_writes, result.candidate_writes):
            if writes and table in writes:
                rows += [(table, str(r["rowid"])) for r in writes[table].inserted if "rowid" in r]
    return [], rows
