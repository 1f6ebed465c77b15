"""The traffic phase (``parity run --traffic FILE``): captured requests replayed against both
services in capture order, ids mapped, time shifted (the plan: ``harness.traffic.replay``)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from harness.models import NOT_SET, Difference, ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext
from harness.setup.traffic import TrafficConfig
from harness.traffic.capture import REDACTED
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

__all__ = ["Replay"]


@dataclass
class Replay:
    """The phase (``parity run --traffic FILE``)."""

    plan: TrafficPlan
    settings: TrafficConfig = field(default_factory=TrafficConfig)
    name: str = "traffic"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    figures: dict[str, Any] = field(default_factory=dict)
    _base: str = ""

    def _request(self, step: Step, side: str, ids: IdMap, shift: TimeShift) -> PreparedRequest:
        req = step.exchange.request
        kept = [
            (k, v)
            for k, v in req.headers
            if k.lower() not in _SKIP_HEADERS and v != REDACTED and not k.startswith(":")
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
            shrinkable=False,
            path_params=params,
        )

    def execute(self, ctx: RunContext) -> None:
        plan = self.plan
        self._base = (
            ctx.config.base_path if ctx.config.base_path is not None else ctx.contract.base_path
        ).rstrip("/")
        ctx.stats.warnings.extend(plan.warnings)
        for why, n in sorted(plan.skipped.items()):
            ctx.stats.notes.append(f"traffic: {n} captured requests not replayed: {why}")
        if not plan.steps:
            ctx.stats.warnings.append("traffic: no captured request matched the contract")
            ctx.stats.incomplete.append("the traffic replayed no request")
            return
        if plan.snapshot:
            ctx.stats.notes.append(
                f"traffic: the capture names snapshot {plan.snapshot!r}; both sides replayed "
                "from the configured snapshot"
            )
        ctx.pair.restore()  # both sides from the snapshot, then never restored until the end
        started = time.perf_counter()
        shift = TimeShift(self.now() - plan.started if plan.started else timedelta(0))
        ids = IdMap()
        drift: Counter[str] = Counter()
        drift_examples: dict[str, str] = {}
        not_found = 0
        seen_at: dict[str, str] = {}  # a difference's concrete place -> the entry first showing it
        tainted: dict[str, str] = {}  # a row key value written differently -> that entry
        attributed = 0
        ctx.listener.operation_started(OperationStarted(label=LABEL, total=len(plan.steps)))
        try:
            for n, step in enumerate(plan.steps):
                lreq = self._request(step, "legacy", ids, shift)
                creq = self._request(step, "candidate", ids, shift)
                result = ctx.exchange(lreq, creq if creq != lreq else None, restore=False)
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
                fresh = self._attribute(step, result, seen_at, tainted)
                attributed += len(result.differences) - len(fresh)
                result = ExchangeResult(
                    result.request,
                    result.legacy,
                    result.candidate,
                    result.legacy_writes,
                    result.candidate_writes,
                    fresh,
                    candidate_request=result.candidate_request,
                )
                agreed = not ctx.findings.live(result)
                ctx.stats.op(step.op).add(result, agreed)
                ctx.findings.record(result, "traffic")
                ctx.listener.case_done(CaseDone(label=LABEL, agreed=agreed))
                if n % 25 == 24:
                    ctx.pair.check_alive()
        finally:
            ctx.pair.restore()
        elapsed = time.perf_counter() - started
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
        ctx.stats.notes.append(
            f"traffic: replayed {total} requests in {elapsed:.1f}s "
            f"({self.figures['pairs_per_s']} pairs/s), {ids.count()} ids mapped "
            f"({', '.join(f'{k} x{v}' for k, v in ids.learned_from.most_common(5))}), "
            f"times moved by {shift.delta}"
        )
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

    @staticmethod
    def _attribute(
        step: Step,
        result: ExchangeResult,
        seen_at: dict[str, str],
        tainted: dict[str, str],
    ) -> list[Difference]:
        """Writes are compared since the start of the replay, so a row one request wrote
        differently still differs afterwards: such a difference, and a later body difference
        on a request naming that row, belong to the first request that showed it."""
        fresh: list[Difference] = []
        named = {unquote(p) for p in step.exchange.request.path.split("/") if p}
        named |= {v for _, v in step.exchange.request.query}
        for diff in result.differences:
            db = diff.location.startswith("db:")
            if db:
                first = seen_at.get(diff.path)
            else:
                first = next((tainted[v] for v in named if v in tainted), None)
            if first is not None and first != step.entry:
                continue
            if db:
                seen_at.setdefault(diff.path, step.entry)
                for value in _ROW_KEY.findall(diff.path):
                    tainted.setdefault(value, step.entry)
            fresh.append(diff)
        return fresh
