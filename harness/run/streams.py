"""The realtime channel's streams, shared by the phases that follow them (``realtime``, on
generated writes, and ``traffic``, on a capture's subscriptions): a subscriber per role and
side reading in a thread, the waits for the streams to settle, and the comparison of one
role's two streams as a finding of the request that caused their messages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from harness.compare.comparison import compare_bodies
from harness.compare.normalization import RuleSet
from harness.models import NOT_SET, ExchangeResult, PreparedRequest, Response
from harness.run.context import RunContext

__all__ = [
    "OPERATION",
    "Subscriber",
    "compare_stream",
    "settle",
    "stream_headers",
    "stream_url",
    "wait_quiet",
]

OPERATION = "REALTIME {path}"


@dataclass
class Subscriber:
    """One client on one side's channel, reading in a thread into ``messages``."""

    url: str
    headers: dict[str, str]
    messages: list[Any] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)
    closed: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def running(self) -> Iterator[Subscriber]:
        from websockets.exceptions import ConnectionClosed, WebSocketException
        from websockets.sync.client import connect

        try:
            ws = connect(self.url, additional_headers=self.headers, open_timeout=10)
        except (OSError, WebSocketException, TimeoutError) as exc:
            self.closed = f"could not connect: {type(exc).__name__}: {exc}"
            yield self
            return

        def read() -> None:
            try:
                for raw in ws:
                    try:
                        value: Any = json.loads(raw)
                    except (TypeError, ValueError):
                        value = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                    with self._lock:
                        self.messages.append(value)
                        self.last = time.monotonic()
            except ConnectionClosed as exc:
                self.closed = f"closed: {exc.rcvd.code if exc.rcvd else '?'}"

        reader = threading.Thread(target=read, name="parity-realtime", daemon=True)
        reader.start()
        try:
            yield self
        finally:
            ws.close()
            reader.join(timeout=5)

    def take(self) -> list[Any]:
        with self._lock:
            out, self.messages = self.messages, []
        return out


def wait_quiet(subscribers: list[Subscriber], quiet_s: float, limit_s: float) -> None:
    """Until no subscriber received anything for ``quiet_s`` (at most ``limit_s``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        newest = max((s.last for s in subscribers), default=0.0)
        if time.monotonic() - newest >= quiet_s and time.monotonic() - started >= quiet_s:
            return
        time.sleep(0.02)


def stream_headers(ctx: RunContext, side: str, role: str | None) -> dict[str, str]:
    """The handshake headers of ``role``'s subscription on ``side`` (its session's token)."""
    auth = ctx.config.auth
    if role is None or auth is None:
        return {}
    token = ctx.pair.targets[side].tokens.get(role)
    scheme = auth.for_role(role)
    return {scheme.header: scheme.prefix + token} if token else {}


def stream_url(ctx: RunContext, side: str, path: str) -> str:
    """``path`` (the channel's, under the side's base path) as a WebSocket URL on ``side``."""
    base = ctx.pair.targets[side].base_url
    scheme, rest = base.split("://", 1)
    origin, _, prefix = rest.partition("/")
    prefix = "/" + prefix.rstrip("/") if prefix.strip("/") else ""
    return f"{'wss' if scheme == 'https' else 'ws'}://{origin}{prefix}{path}"


def compare_stream(
    ctx: RunContext,
    rules: RuleSet,
    role: str | None,
    legacy: list[Any],
    candidate: list[Any],
    cause: ExchangeResult | None,
    path: str,
) -> bool:
    """Record the differences of one role's two streams (the messages each side pushed
    after ``cause``, the write that caused them; None: on subscribing) as a realtime finding
    of that write; True when a difference no accept rule covers was found."""
    who = role or "anonymous"
    lb, cb = rules.normalize_body(legacy), rules.normalize_body(candidate)
    diffs = [
        replace(
            d,
            location=f"realtime:{who}:" + d.location.removeprefix("body:"),
            summary=f"{who}'s stream: {d.summary}",
        )
        for d in compare_bodies(
            lb, cb, rules, clock=ctx.pair.clock() if cause is not None else None
        )
    ]
    op_id = cause.request.operation if cause is not None else OPERATION.format(path=path)
    if cause is not None:  # an accept rule's ``when`` looks at the write that caused them
        diffs = [ctx.findings.scoped(cause.request, d) for d in diffs]
    live = [d for d in diffs if not ctx.findings.accepted(op_id, d)]
    if not diffs:
        return False
    ctx.stats.realtime["failing"] += 1
    stream = Response(0, (), None, "", 0.0)
    if cause is None:
        cause = ExchangeResult(_subscribe(path, role), stream, stream, None, None, [])
    example = ExchangeResult(
        cause.request,
        replace(cause.legacy, body={"response": cause.legacy.body, "stream": legacy}),
        replace(cause.candidate, body={"response": cause.candidate.body, "stream": candidate}),
        cause.legacy_writes,
        cause.candidate_writes,
        diffs,
        candidate_request=cause.candidate_request,
    )
    # the finding belongs to the write that caused the events (the subscription itself
    # when the streams differ before any write)
    ctx.findings.add_realtime(cause.request.operation, example)
    return bool(live)


def settle(
    pairs: list[tuple[Subscriber, Subscriber]], grace_s: float, quiet_s: float, limit_s: float
) -> None:
    """Until every pair of streams (one role's legacy and candidate) holds as many messages
    and nothing arrived for ``grace_s``, or nothing arrived for ``quiet_s`` (the two still
    differ: that is what the comparison will say), at most ``limit_s``. Agreeing streams cost
    the grace, not the whole quiet period, so a long replay can follow them after every
    request."""
    subs = [s for pair in pairs for s in pair]
    started = time.monotonic()
    while True:
        now = time.monotonic()
        since = now - max((s.last for s in subs), default=0.0)
        waited = now - started
        if waited >= limit_s:
            return
        if since >= grace_s and waited >= grace_s:
            with_lock = [(len(a.messages), len(b.messages)) for a, b in pairs]
            if all(x == y for x, y in with_lock):
                return
        if since >= quiet_s and waited >= quiet_s:
            return
        time.sleep(0.005)


def _subscribe(path: str, role: str | None) -> PreparedRequest:
    return PreparedRequest(
        operation=OPERATION.format(path=path),
        method="GET",
        path=path,
        query=(),
        headers=(("upgrade", "websocket"),),
        content=None,
        body=NOT_SET,
        media_type=None,
        role=role,
        mode="realtime",
        shrinkable=False,
    )
