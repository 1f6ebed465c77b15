"""Which side serves a caller on a route: legacy, shadow, canary (a percent) or port.

A canary share is sticky: a caller's bucket is a stable hash of (seed, route, identity) in
[0, 100), served by the port when it is below the percent. Raising the percent only adds
callers to the port (nobody flips back and forth on the way from 10 to 50 to 100), and a
caller keeps their side across logins because the identity is the user, not the token.
Callers without an identity stay on the legacy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from harness.errors import HarnessError

__all__ = [
    "MODES",
    "Choice",
    "Mode",
    "PolicyError",
    "bucket",
    "choose",
    "validate_mode",
]

Mode = Literal["legacy", "shadow", "canary", "port"]
Side = Literal["legacy", "port"]
MODES: tuple[Mode, ...] = ("legacy", "shadow", "canary", "port")


class PolicyError(HarnessError):
    """A route mode the gateway cannot serve safely (exit 2, nothing changed)."""


def validate_mode(mode: str, percent: float | None, databases: str) -> tuple[Mode, float]:
    """The checked (mode, percent); refuses what would break the single source of truth."""
    if mode not in MODES:
        raise PolicyError(f"route mode {mode!r} is not one of {', '.join(MODES)}")
    if mode in ("canary", "port") and databases == "separate":
        raise PolicyError(
            f'route mode {mode!r} needs the shared database: with databases = "separate" '
            "the callers served by the port would write to a database the legacy never "
            "reads, and the two populations would drift apart; use shadow, or point both "
            "services at one database"
        )
    if mode == "canary":
        if percent is None:
            raise PolicyError("route mode 'canary' needs a percent (0 to 100)")
        if not 0 <= percent <= 100:
            raise PolicyError(f"canary percent {percent} is outside 0..100")
        return "canary", float(percent)
    if percent is not None:
        expected = {"legacy": 0.0, "shadow": 0.0, "port": 100.0}[mode]
        if percent != expected:
            raise PolicyError(f"route mode {mode!r} takes no percent (got {percent})")
    return mode, 100.0 if mode == "port" else 0.0


def bucket(identity: str, route: str, seed: str = "") -> float:
    """A caller's place in [0, 100) on one route: uniform, stable, independent per route."""
    digest = hashlib.sha256(f"{seed}\x00{route}\x00{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


@dataclass(frozen=True)
class Choice:
    """The side that answers the client, and whether the other side gets a shadow copy."""

    side: Side
    shadow: bool
    bucket: float | None = None


def choose(mode: Mode, percent: float, identity: str | None, route: str, seed: str = "") -> Choice:
    """The serving side for one request on a route in ``mode``."""
    if mode == "legacy":
        return Choice("legacy", shadow=False)
    if mode == "shadow":
        return Choice("legacy", shadow=True)
    if mode == "port":
        return Choice("port", shadow=False)
    if identity is None:
        return Choice("legacy", shadow=True)
    place = bucket(identity, route, seed)
    if place < percent:
        return Choice("port", shadow=False, bucket=place)
    return Choice("legacy", shadow=True, bucket=place)
