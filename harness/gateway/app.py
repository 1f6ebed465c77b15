"""The gateway's ASGI application: every client is answered by the legacy; in ``shadow`` a
copy of a read goes to the port at the same moment, and the two answers go to the worker
process for comparison. Nothing here waits on the port before answering the client."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import httpx
from yarl import URL

from harness.gateway.metrics import Metrics
from harness.gateway.policy import PolicyError
from harness.gateway.routes import SAFE_METHODS, Request, Route, RouteTable, resolve_mode
from harness.gateway.sampling import sampled
from harness.gateway.shedding import LoadGuard
from harness.gateway.shift import AGREED, Shifter
from harness.gateway.upstream import (
    client_for,
    passthrough_client,
    response_headers,
    shadow_client,
    upstream_headers,
)
from harness.gateway.writes import Snapshot, WriteCounters
from harness.setup.gateway import GatewayConfig

__all__ = ["GatewayApp", "resolve_mode"]

LOG = logging.getLogger("parity.gateway")
STATS_EVERY_S = 5.0
COLLECT_MAX = 8 * 1024 * 1024  # answers larger than this are served but not compared
Scope = dict[str, Any]


_CID_PREFIX = os.urandom(8).hex()
_CID_COUNT = itertools.count()


def _new_cid() -> str:
    """A correlation id: 32 hex digits, this process's random half and a counter (a uuid4
    per request cost the serving loop a syscall and an object)."""
    return f"{_CID_PREFIX}{next(_CID_COUNT) & 0xFFFFFFFFFFFFFFFF:016x}"


def _status_class(code: int) -> str:
    return f"{code // 100}xx" if code else "error"


WS_CAPTURE_FRAMES = 200  # frames a captured subscription keeps (the simulator's cap too)
_WS_NONCES = frozenset({"sec-websocket-key", "sec-websocket-accept"})


class GatewayApp:
    """One instance per process; ``jobs`` is the worker's bounded queue (``put_nowait``),
    ``counters`` the writes it knows of (``writes.WriteCounters``), shared with the worker."""

    def __init__(
        self,
        config: GatewayConfig,
        table: RouteTable,
        jobs: Any,
        counters: WriteCounters,
        *,
        capture: bool,
        admin_separate: bool = False,
        shifter: Shifter | None = None,
    ) -> None:
        if not config.legacy:
            raise ValueError("[gateway] legacy is not set")
        self.gw = config
        self.table = table
        self.jobs = jobs
        self.counters = counters
        self.capture = capture
        self.admin_separate = admin_separate
        self.metrics = Metrics()
        self.token = os.environ.get(config.token_env) or None
        self.legacy: httpx.AsyncClient | None = None
        self.passthrough: aiohttp.ClientSession | None = None  # the client's own answers
        self.legacy_base = config.legacy.rstrip("/")
        self.candidate: httpx.AsyncClient | None = None  # the port when it serves (shifting)
        self.shadows: aiohttp.ClientSession | None = None  # the port's and A/A copies
        self.shadows_in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.dropped: Counter[str] = Counter()
        self.route_dropped: Counter[tuple[str, str]] = Counter()
        self.eligible: Counter[str] = Counter()  # per route: requests that could be shadowed
        self.shadowed: Counter[str] = Counter()  # per route: of them, sent to the port
        self.guard = LoadGuard(config.shed)  # the legacy's strain, measured on its answers
        self.served = 0
        self.shifter = shifter
        self.ticker: asyncio.Task[None] | None = None
        self.reporter: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        gw = self.gw
        assert gw.legacy is not None
        self.legacy = client_for(gw.legacy, gw.timeout_s, 256)
        self.passthrough = passthrough_client(gw.timeout_s, 256)
        if gw.candidate:
            self.candidate = client_for(gw.candidate, gw.timeout_s, gw.shadow_in_flight)
            self.shadows = shadow_client(gw.timeout_s, gw.shadow_in_flight)

    async def close(self, deadline_s: float) -> None:
        """Let the shadows in flight finish (up to the deadline), then close the pools."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=max(deadline_s, 0.1))
        for task in list(self.tasks):
            task.cancel()
        for client in (self.legacy, self.candidate):
            if client is not None:
                await client.aclose()
        for session in (self.passthrough, self.shadows):
            if session is not None:
                await session.close()
        if self.shifter is not None:
            await self.shifter.aclose()
        self._put(self.stats_job())

    def stats_job(self) -> dict[str, Any]:
        """What only the serving process knows, as totals (the worker keeps the last): drops
        per route and reason, and each shifted route's mode, breaker and changes."""
        per_route: dict[str, dict[str, int]] = {}
        for (route, reason), n in self.route_dropped.items():
            per_route.setdefault(route, {})[reason] = n
        return {
            "kind": "stats",
            "dropped": dict(self.dropped),
            "route_dropped": per_route,
            "route_shadowed": {
                key: {"eligible": n, "shadowed": self.shadowed[key]}
                for key, n in self.eligible.items()
            },
            "shift": self.shifter.snapshot() if self.shifter is not None else None,
        }

    async def _report(self) -> None:
        """Totals to the worker every few seconds, so results.json written meanwhile has them."""
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            self._put(self.stats_job())

    def _put(self, job: dict[str, Any]) -> bool:
        try:
            self.jobs.put_nowait(job)
            return True
        except Exception:  # queue.Full: the worker is behind
            return False

    # -- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif not self.admin_separate and (
            scope["path"] == "/metrics" or scope["path"].startswith("/_parity/")
        ):
            await self.admin(scope, receive, send)
        else:
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.open()
                if self.shifter is not None and self.shifter.schedules:
                    self.ticker = asyncio.create_task(self._tick())
                self.reporter = asyncio.create_task(self._report())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in (self.ticker, self.reporter):
                    if task is not None:
                        task.cancel()
                await self.close(self.gw.drain_s)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def admin(self, scope: Scope, receive: Any, send: Any) -> None:
        """``/metrics`` and ``/_parity/status``, ``/_parity/flush``: only with the token."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-parity-token") or headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if self.token is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            await _answer(send, 401, b'{"error":"token required"}')
            return
        path = scope["path"]
        if path.startswith("/_parity/") and path[9:] in ("routes", "shift", "promote"):
            await self._admin_shift(path[9:], scope, receive, send)
        elif path == "/metrics":
            self.metrics.shed_share.set(float(str(self.guard.snapshot()["share_sent"])))
            if self.shifter is not None:
                self.metrics.shift_state(self.shifter.snapshot()["routes"])
            await _answer(send, 200, self.metrics.render(), "text/plain; version=0.0.4")
        elif path == "/_parity/status":
            body = {
                "served": self.served,
                "shadows_in_flight": self.shadows_in_flight,
                "dropped": dict(self.dropped),
                "eligible": sum(self.eligible.values()),
                "shadowed": sum(self.shadowed.values()),
                "shed": self.guard.snapshot(),
                "writes_in_flight": self.counters.snapshot()[0],
                "writes_done": self.counters.snapshot()[1],
            }
            await _answer(send, 200, json.dumps(body).encode())
        elif path == "/_parity/flush" and scope["method"] == "POST":
            self._put(self.stats_job())
            ok = self._put({"kind": "flush"})
            await _answer(send, 202 if ok else 503, b"{}")
        else:
            await _answer(send, 404, b'{"error":"not found"}')

    def _admit(self, route: Route, cid: str) -> bool:
        """A request that could be shadowed: counted, sampled by its correlation id, then
        shed while the legacy is under strain."""
        self.eligible[route.key] += 1
        if not sampled(cid, route.fraction):
            self._drop(route, "sampled_out")
            return False
        why = self.guard.shed()
        if why is not None:
            self._drop(route, why)
            return False
        return True

    def _sent(self, route: Route, task: asyncio.Task[None]) -> None:
        self.shadowed[route.key] += 1
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _drop(self, route: Route, reason: str) -> None:
        self.dropped[reason] += 1
        self.route_dropped[(route.key, reason)] += 1
        self.metrics.shadows.labels(route.key, reason).inc()

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        assert self.legacy is not None
        started = time.time()
        method: str = scope["method"]
        path: str = scope["path"]
        raw = scope.get("raw_path") or path.encode()
        qs: bytes = scope.get("query_string", b"")
        target = raw.decode("latin-1") + (("?" + qs.decode("latin-1")) if qs else "")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        cid = next((v for k, v in headers if k == "x-request-id"), None) or _new_cid()
        route = self.table.route(method, path)
        if self.gw.compare_only:
            await self._mirrored(scope, receive, send, route, method, target, headers, cid)
            return
        mode = resolve_mode(route, Request(method, path, tuple(headers)))
        shifted = self.shifter is not None and route.key in self.shifter.table
        if shifted:
            assert self.shifter is not None
            choice = await self.shifter.choose(route.key, dict(headers))
            if choice.side == "port" and self.candidate is not None:
                await self._via_port(scope, receive, send, route, method, target, headers, cid)
                return
            mode = "shadow" if choice.shadow else "legacy"
        write = method not in SAFE_METHODS
        shadow = mode == "shadow" and self.candidate is not None
        if shadow and write and self.gw.databases == "shared":
            shadow = False
            self.metrics.shadows.labels(route.key, "write_not_mirrored").inc()
        if shadow:
            shadow = self._admit(route, cid)
        need_body = shadow or self.capture
        body: bytes | None = None
        stream: Any
        more = True
        if need_body:
            parts: list[bytes] = []
            size = 0
            while more and size <= self.gw.shadow_max_body:
                msg = await receive()
                chunk = msg.get("body", b"")
                parts.append(chunk)
                size += len(chunk)
                more = bool(msg.get("more_body"))
            if more:  # too large to mirror: stream what is left, compare nothing
                if shadow:
                    self._drop(route, "dropped_body")
                shadow = False
                stream = _rest(b"".join(parts), receive)
            else:
                body = b"".join(parts)
                if shadow and len(body) > self.gw.shadow_max_body:
                    self._drop(route, "dropped_body")
                    shadow = False
                stream = body
        else:
            stream = _rest(b"", receive)
        length = next((v for k, v in headers if k == "content-length"), None)
        if length is None and not any(k == "transfer-encoding" for k, _ in headers):
            stream = b""  # no body: none sent on (not an empty chunked one)
        client = scope.get("client")
        server = next((v for k, v in headers if k == "host"), None)
        up_headers = upstream_headers(headers, client[0] if client else None, server, cid)
        primary_headers = up_headers
        if length is not None and not isinstance(stream, bytes):
            # streamed on with the client's length, so the legacy reads it as sent (not chunked)
            primary_headers = [*up_headers, ("content-length", length)]
        before = self.counters.snapshot()
        if write:
            self.counters.started()
        legacy_done: asyncio.Future[dict[str, Any] | None] | None = None
        # a shadow in flight while this client waits (its own or another's): the shedding's
        # cost signal sets these clients' times against the others'
        busy = self.shadows_in_flight > 0
        if shadow:
            if self.shadows_in_flight >= self.gw.shadow_in_flight:
                self._drop(route, "dropped_in_flight")
            else:
                legacy_done = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(
                    self._shadow(route, method, target, up_headers, body, legacy_done, before)
                )
                self._sent(route, task)
        answer: dict[str, Any] | None = None
        try:
            answer = await self._primary(
                send,
                method,
                target,
                primary_headers,
                stream,
                cid,
                collect=legacy_done is not None or self.capture,
            )
        finally:
            if write:
                self.counters.done()
            if legacy_done is not None and not legacy_done.done():
                legacy_done.set_result(answer)
        self.served += 1
        status = answer["status"] if answer else 502
        self.metrics.requests.labels(route.key, "legacy", _status_class(status)).inc()
        elapsed = (time.time() - started) * 1000
        if answer is not None:
            self.guard.served(
                elapsed, busy or legacy_done is not None or self.shadows_in_flight > 0
            )
        if shifted and self.shifter is not None:
            self.shifter.legacy_served(route.key, elapsed)
        if LOG.isEnabledFor(logging.INFO):  # the line is built only when it is written
            LOG.info(
                json.dumps(
                    {
                        "cid": cid,
                        "method": method,
                        "path": path,
                        "route": route.key,
                        "mode": mode,
                        "status": status,
                        "ms": round(elapsed, 2),
                    }
                )
            )
        if (
            self.capture
            and answer is not None
            and answer.get("body") is not None
            and legacy_done is None
        ):
            job = self._job(route, mode, method, target, headers, body, answer, started)
            if not self._put(job):
                self.dropped["capture_queue"] += 1

    def _job(
        self,
        route: Route,
        mode: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        answer: dict[str, Any] | None,
        started: float,
    ) -> dict[str, Any]:
        path, _, qs = target.partition("?")
        identity = next((v for k, v in headers if k in ("authorization", "cookie")), None)
        return {
            "kind": "exchange",
            "route": route.key,
            "mode": mode,
            "operation": route.operation,
            "method": method,
            "path": path,
            "query": parse_qsl(qs, keep_blank_values=True),
            "headers": [(k, v) for k, v in headers if k != "host"],
            "body": body or b"",
            "identity": identity,
            "legacy": answer,
            "candidate": None,
            "started": started,
            "capture": self.capture,
            "legacy_url": self.gw.legacy,
            "candidate_url": self.gw.candidate,
            "raced": False,
        }

    async def _primary(
        self,
        send: Any,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        content: Any,
        cid: str,
        *,
        collect: bool,
    ) -> dict[str, Any] | None:
        assert self.passthrough is not None
        t0 = time.time()
        parts: list[bytes] | None = [] if collect else None
        size = 0
        started = False
        # the target as the client wrote it: yarl would re-quote it otherwise
        url = URL(self.legacy_base + target, encoded=True)
        self.guard.started()
        t1 = 0.0
        try:
            try:
                async with self.passthrough.request(
                    method, url, headers=headers, data=content or None, allow_redirects=False
                ) as resp:
                    out_headers = response_headers(list(resp.raw_headers))
                    out_headers.append((b"x-request-id", cid.encode("latin-1")))
                    await send(
                        {
                            "type": "http.response.start",
                            "status": resp.status,
                            "headers": out_headers,
                        }
                    )
                    started = True
                    last = False
                    async for chunk in resp.content.iter_any():
                        # a body read whole in one go (most answers) is sent in one message
                        last = resp.content.at_eof()
                        await send(
                            {"type": "http.response.body", "body": chunk, "more_body": not last}
                        )
                        if parts is not None:
                            size += len(chunk)
                            if size > COLLECT_MAX:
                                parts = None
                            else:
                                parts.append(chunk)
                    status = resp.status
                    answer_headers = [
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers
                    ]
            except (aiohttp.ClientError, TimeoutError) as exc:
                LOG.warning(json.dumps({"cid": cid, "error": f"legacy: {type(exc).__name__}"}))
                if not started:  # else the answer is cut short: the client sees a broken body
                    await _answer(send, 502, b'{"error":"legacy unavailable"}')
                return None
            if not last:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            t1 = time.time()
        finally:  # whatever ends it (a client gone, a cancel): no longer in flight
            self.guard.ended(t1 - t0 if t1 else None)
        self.metrics.latency.labels("legacy").observe(t1 - t0)
        return {
            "status": status,
            "headers": answer_headers,
            "body": b"".join(parts) if parts is not None else None,
            "elapsed_ms": (t1 - t0) * 1000,
            "window": (t0, t1),
        }

    # -- compare-only: a sink for another proxy's mirrored copies ----------------------------
    async def _mirrored(
        self,
        scope: Scope,
        receive: Any,
        send: Any,
        route: Route,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        cid: str,
    ) -> None:
        """A mirrored copy: the mirror is answered at once (it discards the answer); a safe
        request is then read from both sides at the same moment and compared; a write (the
        legacy already has the original) is only captured and marks reads around it raced."""
        started = time.time()
        body = b"".join([chunk async for chunk in _rest(b"", receive)])
        await _answer(send, 202, b"")
        self.served += 1
        self.metrics.requests.labels(route.key, "mirror", "2xx").inc()
        client = scope.get("client")
        host = next((v for k, v in headers if k == "host"), None)
        up = upstream_headers(headers, client[0] if client else None, host, cid)
        if method not in SAFE_METHODS:
            self.counters.applied()  # the legacy applies the original about now
            self.metrics.shadows.labels(route.key, "write_not_mirrored").inc()
            if self.capture:
                job = self._job(route, "mirror", method, target, headers, body, None, started)
                if not self._put(job):
                    self.dropped["capture_queue"] += 1
            return
        if self.candidate is None or not self._admit(route, cid):
            return
        if len(body) > self.gw.shadow_max_body:
            self._drop(route, "dropped_body")
            return
        if self.shadows_in_flight >= self.gw.shadow_in_flight:
            self._drop(route, "dropped_in_flight")
            return
        self._sent(route, asyncio.create_task(self._both(route, method, target, up, body)))

    async def _both(
        self, route: Route, method: str, target: str, up: list[tuple[str, str]], body: bytes
    ) -> None:
        assert self.shadows is not None
        assert self.gw.legacy is not None
        before = self.counters.snapshot()
        legacy_done: asyncio.Future[dict[str, Any] | None] = (
            asyncio.get_running_loop().create_future()
        )
        shadow = asyncio.create_task(
            self._shadow(route, method, target, up, body, legacy_done, before)
        )
        t0 = time.time()
        answer: dict[str, Any] | None = None
        self.guard.started()
        t1 = 0.0
        try:  # over the shadows' aiohttp pool, like the port's copy (httpx cost 2x the CPU)
            answer = await _read(self.shadows, self.gw.legacy, method, target, up, body)
            t1 = time.time()
            self.metrics.latency.labels("legacy").observe(t1 - t0)
            self.metrics.requests.labels(route.key, "legacy", _status_class(answer["status"])).inc()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            LOG.warning(json.dumps({"error": f"legacy: {type(exc).__name__}"}))
        finally:
            self.guard.ended(t1 - t0 if t1 else None)
            legacy_done.set_result(answer)
        await shadow

    # -- shifting (canary, port) ------------------------------------------------------------
    async def _tick(self) -> None:
        """Move the schedules once a second (they judge the evidence, not the clock)."""
        assert self.shifter is not None
        while True:
            await asyncio.sleep(1.0)
            for verdict in self.shifter.tick():
                LOG.info(json.dumps({"event": "schedule", "reason": verdict.reason}))

    def compared(self, route: str, result: str) -> None:
        """A comparison the worker finished: evidence for the route's schedule."""
        if self.shifter is not None and route in self.shifter.table:
            self.shifter.compared(route, agreed=result.split(":")[0] in AGREED)

    async def _admin_shift(self, verb: str, scope: Scope, receive: Any, send: Any) -> None:
        """``GET /_parity/routes``; ``POST /_parity/shift`` {route, mode, percent, reason, who};
        ``POST /_parity/promote`` {route, reason, who}."""
        if self.shifter is None:
            await _answer(send, 404, b'{"error":"shifting is off"}')
            return
        if verb == "routes":
            await _answer(send, 200, json.dumps(self.shifter.snapshot()).encode())
            return
        if scope["method"] != "POST":
            await _answer(send, 405, b'{"error":"POST"}')
            return
        doc = await _read_json(receive)
        if not isinstance(doc, dict) or not isinstance(doc.get("route"), str):
            await _answer(send, 400, b'{"error":"a JSON object with route, reason, who"}')
            return
        try:
            who, why = str(doc.get("who") or ""), str(doc.get("reason") or "")
            if verb == "shift":
                pct = doc.get("percent")
                change = self.shifter.shift(
                    doc["route"],
                    str(doc.get("mode")),
                    None if pct is None else float(pct),
                    why,
                    who,
                )
            else:
                change = self.shifter.promote(doc["route"], why, who)
        except (PolicyError, ValueError, TypeError) as exc:
            message = exc.message if isinstance(exc, PolicyError) else str(exc)
            await _answer(send, 400, json.dumps({"error": message}).encode())
            return
        LOG.info(json.dumps({"event": "shift", **change.model_dump(mode="json")}))
        await _answer(send, 200, change.model_dump_json().encode())

    async def _via_port(
        self,
        scope: Scope,
        receive: Any,
        send: Any,
        route: Route,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        cid: str,
    ) -> None:
        """A caller the port serves: breaker, budget and fallback rules (``fallback.serve``)."""
        assert self.shifter is not None
        assert self.candidate is not None
        assert self.legacy is not None
        started = time.time()
        body = b"".join([chunk async for chunk in _rest(b"", receive)])
        client = scope.get("client")
        host = next((v for k, v in headers if k == "host"), None)
        up = upstream_headers(headers, client[0] if client else None, host, cid)
        raw: dict[str, bytes] = {}

        async def to(side: str, upstream: httpx.AsyncClient, timeout: float) -> httpx.Response:
            request = upstream.build_request(
                method, target, headers=up, content=body, timeout=timeout
            )
            resp = await upstream.send(request, stream=True)
            try:
                raw[side] = b"".join([chunk async for chunk in resp.aiter_raw()])
            finally:
                await resp.aclose()
            return resp

        port, legacy = self.candidate, self.legacy
        write = method not in SAFE_METHODS
        if write:
            self.counters.started()
        served = None
        try:
            served = await self.shifter.serve(
                route.key,
                method,
                lambda t: to("port", port, t),
                lambda t: to("legacy", legacy, t),
            )
        except (httpx.HTTPError, TimeoutError) as exc:  # the legacy failed its fallback
            LOG.warning(json.dumps({"cid": cid, "error": f"fallback: {type(exc).__name__}"}))
        finally:
            if write:
                self.counters.done()
        self.served += 1
        if served is None or served.response is None or served.side is None:
            status = served.error.status if served is not None and served.error else 502
            why = served.error.reason if served is not None and served.error else "unavailable"
            doc = {"error": why, "correlation_id": cid}
            await _answer(send, status, json.dumps(doc).encode())
            side = "error"
        else:
            resp, side = served.response, served.side
            status = resp.status_code
            out = response_headers(resp.headers.raw)
            out.append((b"x-request-id", cid.encode("latin-1")))
            out.append((b"x-parity-side", side.encode()))
            content = raw.get(side, b"")
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": content, "more_body": False})
        self.metrics.requests.labels(route.key, side, _status_class(status)).inc()
        if served is not None and served.fallback:
            self.metrics.fallbacks.labels(route.key, served.fallback.split(":")[0]).inc()
        if not LOG.isEnabledFor(logging.INFO):
            return
        LOG.info(
            json.dumps(
                {
                    "cid": cid,
                    "method": method,
                    "route": route.key,
                    "mode": "port",
                    "side": side,
                    "fallback": served.fallback if served else None,
                    "port_error": served.port_error if served else None,
                    "status": status,
                    "ms": round((time.time() - started) * 1000, 2),
                }
            )
        )

    async def _shadow(
        self,
        route: Route,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        legacy_done: asyncio.Future[dict[str, Any] | None],
        before: Snapshot,
    ) -> None:
        """The port's copy, sent now; compared once the legacy's answer is in."""
        assert self.shadows is not None
        assert self.gw.candidate is not None
        self.shadows_in_flight += 1
        self.metrics.in_flight.inc()
        secondary = None
        if self.gw.legacy_secondary and method in SAFE_METHODS:  # A/A: the noise baseline
            secondary = asyncio.create_task(
                _fetch(self.shadows, self.gw.legacy_secondary, method, target, headers, body)
            )
        candidate: dict[str, Any]
        t0 = time.time()
        try:
            candidate = await _read(self.shadows, self.gw.candidate, method, target, headers, body)
            self.metrics.latency.labels("candidate").observe(candidate["elapsed_ms"] / 1000)
            self.metrics.shadows.labels(route.key, "sent").inc()
            self.metrics.requests.labels(
                route.key, "candidate", _status_class(candidate["status"])
            ).inc()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:  # the port down or too slow
            candidate = {
                "status": 0,
                "headers": [],
                "body": b"",
                "elapsed_ms": 0.0,
                "error": f"{type(exc).__name__}: port unreachable or too slow",
            }
            self.metrics.shadows.labels(route.key, "failed").inc()
        finally:
            self.shadows_in_flight -= 1
            self.metrics.in_flight.dec()
        try:
            legacy = await asyncio.wait_for(legacy_done, self.gw.timeout_s + 1)
        except TimeoutError:
            legacy = None
        if legacy is None or legacy.get("body") is None:
            return
        raced = WriteCounters.raced(before, self.counters.snapshot())
        job = self._job(
            route,
            "compare-only" if self.gw.compare_only else "shadow",
            method,
            target,
            [
                (k, v)
                for k, v in headers
                if k not in ("x-forwarded-for", "forwarded", "x-request-id")
            ],
            body,
            legacy,
            t0,
        )
        job["candidate"] = candidate
        job["raced"] = raced
        if secondary is not None:
            job["secondary"] = await secondary
        if not self._put(job):
            self._drop(route, "dropped_queue")

    async def _websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        """The realtime channel: passed through to the legacy, message for message; the
        client's subprotocols offered upstream and the one chosen there accepted; each side's
        close code and reason passed to the other."""
        import websockets

        assert self.gw.legacy is not None
        await receive()  # websocket.connect
        qs = scope.get("query_string", b"").decode("latin-1")
        url = self.gw.legacy.replace("http", "ws", 1).rstrip("/") + scope["path"]
        url += f"?{qs}" if qs else ""
        keep = {"authorization", "cookie", "origin"}
        extra = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() in keep
        ]
        offered = list(scope.get("subprotocols") or [])
        try:
            upstream = await websockets.connect(
                url,
                additional_headers=extra,
                open_timeout=10,
                subprotocols=[websockets.Subprotocol(p) for p in offered] or None,
            )
        except Exception as exc:  # the legacy refused or is down: said, and passed on
            LOG.warning(
                json.dumps(
                    {
                        "event": "websocket",
                        "path": scope["path"],
                        "error": f"legacy: {type(exc).__name__}: {exc}",
                    }
                )
            )
            await _deny(scope, send, exc)
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        started = time.time()
        frames: list[str | bytes] = []  # what the legacy pushed: the capture's messages

        async def up() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    code, reason = _sendable_close(msg.get("code"), msg.get("reason"))
                    await upstream.close(code=code, reason=reason)
                    return
                data = msg.get("text") if msg.get("text") is not None else msg.get("bytes")
                if data is not None:
                    await upstream.send(data)

        async def down() -> None:
            with contextlib.suppress(Exception):
                async for data in upstream:
                    key = "text" if isinstance(data, str) else "bytes"
                    await send({"type": "websocket.send", key: data})
                    if self.capture and len(frames) < WS_CAPTURE_FRAMES:
                        frames.append(data)
            code, reason = _sendable_close(upstream.close_code, upstream.close_reason)
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": code, "reason": reason})

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await upstream.close()
            if self.capture:  # the subscription, written when it closes (the traffic format)
                self._capture_subscription(scope, qs, started, frames)

    def _capture_subscription(
        self, scope: Scope, qs: str, started: float, frames: list[str | bytes]
    ) -> None:
        """One exchange for a subscription the gateway passed through: ``GET`` with its
        ``Upgrade: websocket`` handshake headers (the nonces left out), answer 101 with the
        frames the legacy pushed (at most ``WS_CAPTURE_FRAMES``), so a replay of the capture
        follows the channel as the subscriber's role."""
        path = scope["path"]
        headers = [
            (k.decode("latin-1").lower(), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in _WS_NONCES
        ]
        if not any(k == "upgrade" for k, _ in headers):
            headers.append(("upgrade", "websocket"))
        route = self.table.route("GET", path)
        target = path + (f"?{qs}" if qs else "")
        answer = {
            "status": 101,
            "headers": [],
            "body": b"",
            "elapsed_ms": (time.time() - started) * 1000,
            "decoded": True,
            "messages": frames,
        }
        job = self._job(route, "legacy", "GET", target, headers, None, answer, started)
        if not self._put(job):
            self.dropped["capture_queue"] += 1


async def _deny(scope: Scope, send: Any, exc: Exception) -> None:
    """The handshake the legacy refused, refused alike: its status, headers (hop-by-hop
    dropped) and body, through the ASGI WebSocket Denial Response extension; a legacy that
    never answered is a 502. A server without the extension can only close before accepting
    (the client then sees 403 whatever the legacy said)."""
    from websockets.exceptions import InvalidStatus

    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1011})
        return
    if isinstance(exc, InvalidStatus):
        refused = exc.response
        status, body = refused.status_code, refused.body or b""
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in refused.headers.raw_items()]
        headers = [(k, v) for k, v in response_headers(raw) if k.lower() != b"content-length"]
    else:
        status, body = 502, b'{"error":"legacy unavailable"}'
        headers = [(b"content-type", b"application/json")]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})


def _sendable_close(code: int | None, reason: str | None) -> tuple[int, str]:
    """A close code one side ended with, as the gateway may send it on: 1005 (no code) and
    1006 (no close frame) never go in a close frame (RFC 6455 7.4.1): 1000 and 1011."""
    if code is None or code == 1005:
        return 1000, reason or ""
    if code == 1006:
        return 1011, reason or ""
    return code, reason or ""


async def _read(
    session: aiohttp.ClientSession,
    base: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
) -> dict[str, Any]:
    """One whole answer (inflated) as the worker reads it; the target as the client wrote
    it, redirects passed back, not followed. Raises the client's errors."""
    t0 = time.time()
    url = URL(base.rstrip("/") + target, encoded=True)
    async with session.request(
        method, url, headers=headers, data=body or None, allow_redirects=False
    ) as resp:
        content = await resp.read()
        status = resp.status
        out = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers]
    t1 = time.time()
    return {
        "status": status,
        "headers": out,
        "body": content,
        "elapsed_ms": (t1 - t0) * 1000,
        "window": (t0, t1),
        "decoded": True,
    }


async def _fetch(
    session: aiohttp.ClientSession,
    base: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
) -> dict[str, Any] | None:
    """One whole answer as the worker reads it; None when that side failed."""
    try:
        return await _read(session, base, method, target, headers, body)
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


async def _read_json(receive: Any) -> Any:
    body = b"".join([chunk async for chunk in _rest(b"", receive)])
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return None


async def _rest(prefix: bytes, receive: Any) -> AsyncIterator[bytes]:
    if prefix:
        yield prefix
    more = True
    while more:
        msg = await receive()
        chunk = msg.get("body", b"")
        if chunk:
            yield chunk
        more = bool(msg.get("more_body"))


async def _answer(send: Any, status: int, body: bytes, ctype: str = "application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
