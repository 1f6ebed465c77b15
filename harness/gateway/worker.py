"""The comparison and capture worker: a separate process fed by a bounded queue, so no
comparison, redaction or file write runs on the serving event loop.

Jobs are plain dicts (picklable). A raced read (a write completed while it was in flight) is
re-read on both sides here, off the loop; only a difference that survives is a finding."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import time
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from harness.compare.comparison import compare_exchange, differing_headers, request_orders
from harness.compare.conditions import holds
from harness.compare.findings import Findings
from harness.compare.noise import NoiseLedger
from harness.compare.normalization import RuleSet
from harness.gateway.results import RouteStats, build_results
from harness.gateway.writes import WriteCounters
from harness.models import NOT_SET, ExchangeResult, PreparedRequest, Response
from harness.pair.transport import parse_body
from harness.setup.config import ParityConfig
from harness.traffic.capture import (
    Body,
    CapturedAnswer,
    CapturedRequest,
    CaptureWriter,
    Exchange,
    Header,
    Pseudonymizer,
    Redactor,
    Retention,
    Timings,
)

__all__ = ["WorkerState", "run_worker"]

RECHECKS = 3


def decoded(side: dict[str, Any]) -> bytes:
    """The body as the client reads it: the legacy's raw bytes inflated (gzip, deflate)."""
    raw: bytes = side["body"] or b""
    if side.get("decoded") or not raw:
        return raw
    coding = next((v for k, v in side["headers"] if k.lower() == "content-encoding"), "")
    coding = coding.strip().lower()
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            return zlib.decompress(raw)
    except zlib.error:
        return raw  # labelled but sent plain (or already inflated): compare as is
    if coding == "br":
        import brotli  # type: ignore[import-not-found,import-untyped,unused-ignore]

        return bytes(brotli.decompress(raw))
    return raw


def response_of(side: dict[str, Any]) -> Response:
    headers = tuple((k.lower(), v) for k, v in side["headers"] if k.lower() != "content-encoding")
    ctype = next((v for k, v in headers if k == "content-type"), None)
    body, text = parse_body(decoded(side), ctype)
    return Response(
        side["status"],
        headers,
        body,
        text,
        side["elapsed_ms"],
        side.get("error"),
        tuple(side["window"]) if side.get("window") else None,
    )


def request_of(job: dict[str, Any]) -> PreparedRequest:
    """The real request, credentials removed (they never reach a finding)."""
    content: bytes | None = job["body"] or None
    ctype = next((v for k, v in job["headers"] if k == "content-type"), None)
    body: Any = NOT_SET
    if content:
        body = parse_body(content, ctype)[0]
    keep = tuple(
        (k, v) for k, v in job["headers"] if k in {"content-type", "accept", "accept-language"}
    )
    return PreparedRequest(
        operation=job["operation"] or f"{job['method']} {job['path']}",
        method=job["method"],
        path=job["path"],
        query=tuple(job["query"]),
        headers=keep,
        content=content,
        body=body,
        media_type=ctype,
        role=job.get("caller"),
        mode="traffic",
    )


class WorkerState:
    """Everything the worker accumulates; ``results`` turns it into a ``Results`` dict."""

    def __init__(self, config: ParityConfig, counters: Any | None) -> None:
        self.config = config
        self.gw = config.gateway
        self.counters = counters  # the serving process's WriteCounters
        self.findings = Findings(list(config.accept))
        self.routes: dict[str, RouteStats] = {}
        self.ops: dict[str, RouteStats] = {}
        self.started = datetime.now(UTC)
        self.failures: Counter[str] = Counter()  # shadows the port did not answer
        self.errors: Counter[str] = Counter()  # comparisons that failed (parity's own)
        self.dropped: Counter[str] = Counter()
        self.served_dropped: Counter[str] = Counter()  # the serving process's last totals
        self.route_dropped: dict[str, dict[str, int]] = {}
        self.route_shadowed: dict[str, dict[str, int]] = {}  # eligible, shadowed per route
        self.shift: dict[str, Any] | None = None
        self.capture: CaptureWriter | None = None
        self.captured = 0
        self.per_caller: Counter[str] = Counter()
        self._rules: dict[str, RuleSet] = {}
        self.noise = NoiseLedger()  # A/A: places where two legacies differ on one request
        self.http: httpx.Client | None = None
        if self.gw.capture:
            keys = Pseudonymizer.from_env()
            t = config.traffic
            redactor = Redactor.build(
                keys, headers=t.redact_headers, fields=t.redact_fields, personal=t.pseudonymize
            )
            header = Header(created=self.started, key_id=keys.key_id, source="gateway", redacted=[])
            header = header.model_copy(update={"redacted": redactor.names})
            self.pseudonyms = keys
            retention = Retention(
                max_age=timedelta(days=t.retention_days) if t.retention_days else None,
                max_bytes=t.retention_bytes,
            )
            self.capture = CaptureWriter(
                config.resolve(self.gw.capture), header, redactor, retention
            )
        else:
            self.pseudonyms = Pseudonymizer.from_env()

    def rules(self, req: PreparedRequest) -> RuleSet:
        every = self.config.normalize
        chosen = [r for r in every if r.when is None or holds(r.when, req)]
        key = f"{req.operation}|{len(chosen)}"
        if key not in self._rules:
            self._rules[key] = RuleSet(chosen, req.operation)
        return self._rules[key]

    def handle(self, job: dict[str, Any]) -> dict[str, Any] | None:
        if job["kind"] == "stats":
            totals = Counter(job["dropped"])
            self.dropped.update(totals)
            self.dropped.subtract(self.served_dropped)
            self.served_dropped = totals
            self.route_dropped = job.get("route_dropped") or {}
            self.route_shadowed = job.get("route_shadowed") or {}
            self.shift = job.get("shift")
            return None
        if job.get("capture"):
            self.write_capture(job)
        if job.get("candidate") is None:
            return None
        return self.compare(job)

    def _stats(self, job: dict[str, Any]) -> tuple[RouteStats, RouteStats]:
        route = self.routes.setdefault(job["route"], RouteStats(job["mode"]))
        op = self.ops.setdefault(job["operation"] or "?", RouteStats(job["mode"]))
        return route, op

    def compare(self, job: dict[str, Any]) -> dict[str, Any]:
        route, op = self._stats(job)
        for s in (route, op):
            s.requests += 1
            s.latency["legacy"].append(job["legacy"]["elapsed_ms"])
            s.statuses["legacy"][str(job["legacy"]["status"])] += 1
        if job["candidate"].get("error"):
            for s in (route, op):
                s.shadow_failed += 1
            self.failures[job["candidate"]["error"]] += 1
            return {"route": job["route"], "result": "failed"}
        for s in (route, op):
            s.latency["candidate"].append(job["candidate"]["elapsed_ms"])
            s.statuses["candidate"][str(job["candidate"]["status"])] += 1
        req = request_of(job)
        rules = self.rules(req)
        legacy, candidate = response_of(job["legacy"]), response_of(job["candidate"])
        accepted = lambda d: self.findings.accepted(req.operation, d, req)  # noqa: E731
        compare, secondary = self.config.compare, job.get("secondary")
        if secondary and compare.learn_headers:  # the A/A twin: its header noise is learned
            where = f"{req.method} {req.path}"
            self.noise.learn_headers(
                where, differing_headers(compare, legacy, response_of(secondary))
            )
        learned = self.noise.headers
        diffs = compare_exchange(
            legacy, candidate, None, None, rules, compare, accepted=accepted, learned=learned
        )
        diffs = request_orders(req, legacy.body, candidate.body, diffs)
        noise: list[Any] = []
        if secondary:
            noise = compare_exchange(
                legacy, response_of(secondary), None, None, rules, compare, learned=learned
            )
            diffs = self.noise.suppress(req.operation, diffs, noise)
        result = "agree"
        if job["raced"]:
            for s in (route, op):
                s.raced += 1
        if diffs and job["raced"] and self.gw.recheck:
            diffs, result = self.recheck(job, req, rules)
            if noise:  # the re-read has no A/A pair: this request's noisy places still hold
                noisy = {(d.location, d.kind) for d in noise}
                diffs = [d for d in diffs if (d.location, d.kind) not in noisy]
                if not diffs and result == "differ":
                    result = "raced_cleared"
            for s in (route, op):
                if result == "raced_unresolved":
                    s.raced_unresolved += 1
                else:
                    s.raced_cleared += 1
        live = [d for d in diffs if not self.findings.accepted(req.operation, d, req)]
        for s in (route, op):
            s.compared += 1
            if live:
                s.differing += 1
            elif result != "raced_unresolved":
                s.agreeing += 1
        if diffs and result != "raced_unresolved":
            ex = ExchangeResult(req, legacy, candidate, None, None, diffs)
            self.findings.record(ex, phase="traffic")
            result = "differ" if live else "accepted"
        return {"route": job["route"], "result": result}

    def recheck(
        self, job: dict[str, Any], req: PreparedRequest, rules: RuleSet
    ) -> tuple[list[Any], str]:
        """Read again on both sides until no write overlaps the pair of reads."""
        if self.http is None:
            self.http = httpx.Client(timeout=self.gw.timeout_s, trust_env=False)
        headers = [(k, v) for k, v in job["headers"]]
        for _ in range(RECHECKS):
            before = self.counters.snapshot() if self.counters is not None else None
            sides = []
            for base in (job["legacy_url"], job["candidate_url"]):
                t0 = time.time()
                try:
                    r = self.http.request(
                        job["method"], base + job["path"], params=job["query"], headers=headers
                    )
                except httpx.HTTPError as exc:
                    return [], f"raced_unresolved:{type(exc).__name__}"
                sides.append(
                    {
                        "status": r.status_code,
                        "headers": list(r.headers.multi_items()),
                        "body": r.content,
                        "elapsed_ms": (time.time() - t0) * 1000,
                        "window": (t0, time.time()),
                    }
                )
            after = self.counters.snapshot() if self.counters is not None else None
            if before is not None and after is not None and WriteCounters.raced(before, after):
                continue  # this re-read raced too
            diffs = compare_exchange(
                response_of(sides[0]),
                response_of(sides[1]),
                None,
                None,
                rules,
                self.config.compare,
            )
            return diffs, "raced_cleared" if not diffs else "differ"
        return [], "raced_unresolved"

    def write_capture(self, job: dict[str, Any]) -> None:
        if self.capture is None:
            return
        gw = self.gw
        caller = self.pseudonyms(job["identity"]) if job.get("identity") else None
        if gw.capture_max and self.captured >= gw.capture_max:
            self.dropped["capture_cap"] += 1
            return
        if caller and gw.capture_per_caller and self.per_caller[caller] >= gw.capture_per_caller:
            self.dropped["capture_caller_cap"] += 1
            return
        self.per_caller[caller or ""] += 1
        ctype = next((v for k, v in job["headers"] if k == "content-type"), None)
        answer = job["legacy"]  # None: a mirrored write (its answer went to the real client)
        actype = (
            next((v for k, v in answer["headers"] if k.lower() == "content-type"), None)
            if answer
            else None
        )
        self.capture.write(
            Exchange(
                seq=self.capture.seq,
                caller=caller,
                request=CapturedRequest(
                    method=job["method"],
                    path=job["path"],
                    query=list(job["query"]),
                    headers=list(job["headers"]),
                    body=Body.of(job["body"] or None, ctype),
                ),
                answer=None
                if answer is None
                else CapturedAnswer(
                    status=answer["status"],
                    headers=[
                        (k.lower(), v)
                        for k, v in answer["headers"]
                        if k.lower() != "content-encoding"
                    ],
                    body=Body.of(decoded(answer) or None, actype),
                    served_by="legacy",
                    messages=_frames(answer.get("messages")),
                ),
                timings=Timings(
                    started=datetime.fromtimestamp(job["started"], UTC),
                    duration_ms=answer["elapsed_ms"] if answer else None,
                ),
            )
        )
        self.captured += 1

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.capture is not None:
            with contextlib.suppress(Exception):
                self.capture.close()


def run_worker(
    config: ParityConfig,
    jobs: Any,
    replies: Any,
    counters: Any,
    out_dir: str,
) -> None:
    """The worker process's main: handle jobs until ``None``, then write results.json."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway decides when it ends
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if config.gateway.worker_nice:
        with contextlib.suppress(OSError):
            os.nice(config.gateway.worker_nice)  # comparisons yield the CPU to the serving
    state = WorkerState(config, counters)
    out = Path(out_dir)
    last = time.monotonic()
    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            job = {"kind": "tick"}
        if job is None:
            break
        if job["kind"] == "flush" or time.monotonic() - last > 10:
            build_results(state).write(out / "results.json")
            last = time.monotonic()
        if job["kind"] in ("tick", "flush"):
            continue
        try:
            reply = state.handle(job)
        except Exception as exc:  # a comparison that fails must not stop the others
            state.errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
            reply = None
        if reply is not None:
            with contextlib.suppress(Exception):
                replies.put_nowait(reply)
    state.close()
    build_results(state).write(out / "results.json")
    print(json.dumps({"event": "results", "path": str(out / "results.json")}), flush=True)


def _frames(frames: list[str | bytes] | None) -> list[Body] | None:
    """A subscription's frames as capture bodies (JSON text as JSON; the writer redacts)."""
    if frames is None:
        return None
    out = []
    for frame in frames:
        raw = frame.encode("utf-8") if isinstance(frame, str) else frame
        try:
            json.loads(raw)
            media = "application/json"
        except ValueError:
            media = "text/plain" if isinstance(frame, str) else "application/octet-stream"
        body = Body.of(raw, media)
        if body is not None:
            out.append(body)
    return out
