"""Which mode serves a request: ``[gateway.routes]`` keyed by contract operation (globs
allowed), path globs as a fallback. ``resolve_mode`` is the one place a mode is decided, so
canary and port modes plug in there."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from harness.setup.contract import Contract, match_operation
from harness.setup.gateway import GatewayConfig, RouteSettings
from harness.traffic.replay import Router

__all__ = ["SAFE_METHODS", "Request", "Route", "RouteTable", "resolve_mode"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Route:
    key: str  # the [gateway.routes] key that matched, "*" for the default
    mode: str  # 'legacy' | 'shadow' (later 'canary' | 'port')
    operation: str | None  # the contract operation, "GET /api/cases/{id}"
    fraction: float = 1.0  # the share of its reads shadowed (``sampling.sampled``)


@dataclass(frozen=True)
class Request:
    """What a mode decision may look at (no body: it is decided before the body is read)."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]

    @property
    def safe(self) -> bool:
        return self.method in SAFE_METHODS


def resolve_mode(route: Route, request: Request) -> str:
    """The mode this request is served in; today the route's own mode."""
    return route.mode


class RouteTable:
    """Method and path to a ``Route``; operation keys first, then path globs, then default."""

    def __init__(self, config: GatewayConfig, contract: Contract | None, base_path: str = ""):
        self.default = config.default_mode
        self.fraction = config.shadow_fraction
        self.router = Router(contract, base_path) if contract is not None else None
        self.by_operation: list[tuple[str, str, float]] = []
        self.by_path: list[tuple[str, str, float]] = []
        for key, value in config.routes.items():
            mode: str = value.mode if isinstance(value, RouteSettings) else value
            fraction = self.fraction
            if isinstance(value, RouteSettings) and value.shadow_fraction is not None:
                fraction = value.shadow_fraction
            side = self.by_path if key.startswith("/") else self.by_operation
            side.append((key, mode, fraction))
        self._cache: dict[tuple[str, str], Route] = {}

    def route(self, method: str, path: str) -> Route:
        hit = self._cache.get((method, path))
        if hit is not None:
            return hit
        op = None
        if self.router is not None:
            found = self.router.match(method, path)
            op = found[0].id if found else None
        route = Route("*", self.default, op, self.fraction)
        if op is not None:
            for key, mode, fraction in self.by_operation:
                if match_operation(key, op):
                    route = Route(key, mode, op, fraction)
                    break
        if route.key == "*":
            for key, mode, fraction in self.by_path:
                if fnmatch.fnmatchcase(path, key):
                    route = Route(key, mode, op, fraction)
                    break
        if len(self._cache) < 10_000:
            self._cache[(method, path)] = route
        return route
