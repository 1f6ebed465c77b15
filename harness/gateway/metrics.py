"""Prometheus metrics (prometheus-client) on a private registry, so two gateways in one
process (tests) never share counters."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "parity_gateway_requests",
            "requests by route, side and status class",
            ["route", "side", "status"],
            registry=r,
        )
        self.shadows = Counter(
            "parity_gateway_shadows",
            "shadow requests by route and outcome "
            "(sent, failed, dropped_in_flight, dropped_body, dropped_queue, write_not_mirrored, "
            "sampled_out, shed_in_flight, shed_latency, shed_cost)",
            ["route", "outcome"],
            registry=r,
        )
        self.comparisons = Counter(
            "parity_gateway_comparisons",
            "comparisons by route and result "
            "(agree, differ, accepted, raced_cleared, raced_unresolved, failed)",
            ["route", "result"],
            registry=r,
        )
        self.latency = Histogram(
            "parity_gateway_upstream_seconds",
            "upstream answer time per side",
            ["side"],
            buckets=BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "parity_gateway_shadow_in_flight", "shadow requests in flight", registry=r
        )
        self.shed_share = Gauge(
            "parity_gateway_shadow_share_sent",
            "the share of new shadows sent now (1: all; under 1 while the legacy is strained, "
            "never under [gateway.shed] floor)",
            registry=r,
        )
        self.shed_share.set(1.0)

        self.fallbacks = Counter(
            "parity_gateway_fallbacks",
            "port-served requests the legacy answered, by route and reason",
            ["route", "reason"],
            registry=r,
        )
        self.breaker = Gauge(
            "parity_gateway_breaker_open",
            "the route's breaker: 0 closed, 0.5 half-open, 1 open",
            ["route"],
            registry=r,
        )
        self.percent = Gauge(
            "parity_gateway_port_percent",
            "the share of callers the port serves on the route (canary percent; port 100)",
            ["route"],
            registry=r,
        )

    def shift_state(self, routes: dict[str, Any]) -> None:
        """Mode, percent and breaker per route, from the shifter's snapshot."""
        level = {"closed": 0.0, "half-open": 0.5, "open": 1.0}
        for route, state in routes.items():
            self.breaker.labels(route).set(level.get(state["breaker"]["state"], 0.0))
            share = state["percent"] if state["mode"] in ("canary", "port") else 0.0
            self.percent.labels(route).set(share)

    def render(self) -> bytes:
        return generate_latest(self.registry)
