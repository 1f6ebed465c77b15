"""Fallback: safe methods fall back within the budget; unsafe only when never sent."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from harness.gateway.breaker import Breaker, BreakerSettings
from harness.gateway.fallback import Budget, Counters, Served, classify, decide, serve


def test_decide_table() -> None:
    assert decide("GET", "ambiguous", 5).action == "legacy"
    assert decide("GET", "status", 5).action == "legacy"
    assert decide("get", "unsent", 5).action == "legacy"
    assert decide("POST", "unsent", 5).action == "legacy"
    ambiguous = decide("POST", "ambiguous", 5)
    assert (ambiguous.action, ambiguous.status) == ("error", 502)
    assert decide("DELETE", "status", 5).action == "port"  # the port's own answer
    spent = decide("GET", "ambiguous", 0.0)
    assert (spent.action, spent.status) == ("error", 504)


def test_classify_httpx_failures() -> None:
    request = httpx.Request("GET", "http://x")
    assert classify(httpx.ConnectError("refused", request=request)) == "unsent"
    assert classify(httpx.ConnectTimeout("t", request=request)) == "unsent"
    assert classify(httpx.PoolTimeout("t", request=request)) == "unsent"
    assert classify(httpx.ReadTimeout("t", request=request)) == "ambiguous"
    assert classify(httpx.RemoteProtocolError("eof", request=request)) == "ambiguous"
    assert classify(httpx.WriteError("w", request=request)) == "ambiguous"
    assert classify(TimeoutError()) == "ambiguous"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _legacy_ok() -> httpx.MockTransport:
    return httpx.MockTransport(lambda r: httpx.Response(200, json={"from": "legacy"}))


async def _serve(
    method: str,
    port_url: str,
    port_transport: httpx.AsyncBaseTransport | None,
    counters: Counters,
    breaker: Breaker | None = None,
) -> Served:
    async with (
        httpx.AsyncClient(transport=port_transport) as port,
        httpx.AsyncClient(transport=_legacy_ok()) as legacy,
    ):
        return await serve(
            "R",
            method,
            lambda t: port.request(method, port_url, timeout=t),
            lambda t: legacy.request(method, "http://legacy/x", timeout=t),
            budget=Budget(port_s=2, legacy_s=2, total_s=5),
            breaker=breaker,
            counters=counters,
        )


def test_connect_refused_on_a_real_socket_falls_back_even_for_post() -> None:
    counters = Counters()
    url = f"http://127.0.0.1:{_closed_port()}/x"
    for method in ("GET", "POST"):
        served = asyncio.run(_serve(method, url, None, counters))
        assert served.side == "legacy"
        assert "ConnectError" in served.port_error
    assert counters.fallbacks["R"] == 2


def test_failure_after_sending_an_unsafe_request_is_an_error_never_retried() -> None:
    sent: list[str] = []

    def reset_after_reading(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    counters = Counters()
    served = asyncio.run(
        _serve("POST", "http://port/x", httpx.MockTransport(reset_after_reading), counters)
    )
    assert served.response is None
    assert served.error.status == 502
    assert sent == ["POST"]  # once: not retried
    assert counters.ambiguous["R"] == 1
    assert counters.fallbacks["R"] == 0
    # the same failure on a GET is answered by the legacy
    served = asyncio.run(
        _serve("GET", "http://port/x", httpx.MockTransport(reset_after_reading), counters)
    )
    assert served.side == "legacy"


def test_port_5xx_get_falls_back_post_is_passed_on() -> None:
    t = httpx.MockTransport(lambda r: httpx.Response(503, json={"from": "port"}))
    counters = Counters()
    get = asyncio.run(_serve("GET", "http://port/x", t, counters))
    assert get.side == "legacy"
    post = asyncio.run(_serve("POST", "http://port/x", t, counters))
    assert post.side == "port"
    assert post.response.status_code == 503


def test_open_breaker_serves_the_legacy_without_touching_the_port() -> None:
    calls: list[str] = []

    def port(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("down", request=request)

    breaker = Breaker("R", BreakerSettings(consecutive=2, open_s=60))
    counters = Counters()
    for _ in range(5):
        served = asyncio.run(
            _serve("GET", "http://port/x", httpx.MockTransport(port), counters, breaker)
        )
        assert served.side == "legacy"
    assert len(calls) == 2
    assert breaker.state == "open"
    assert counters.breaker_open["R"] == 3
    assert counters.fallbacks["R"] == 5


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_port_success_is_served_and_closes_nothing(method: str) -> None:
    t = httpx.MockTransport(lambda r: httpx.Response(201, json={"from": "port"}))
    served = asyncio.run(_serve(method, "http://port/x", t, Counters()))
    assert served.side == "port"
    assert served.fallback is None
