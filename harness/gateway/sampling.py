"""Which reads in shadow mode are shadowed: a fraction per route, decided by the request's
correlation id (Envoy's mirror ``runtime_fraction``, Diffy's sampling), so every gateway
instance decides a given request alike and a client that sends ``X-Request-Id`` can tell
whether its request was compared."""

from __future__ import annotations

import hashlib

__all__ = ["sampled"]

_SPAN = 1 << 64


def sampled(correlation_id: str, fraction: float) -> bool:
    """True when the request with this id is in the sampled ``fraction`` (0 to 1): its id's
    hash (BLAKE2b, 64 bits: the same in every process, unlike ``hash``) below
    ``fraction`` of the hash space. 1 takes every request, 0 none."""
    if fraction >= 1.0:
        return True
    if fraction <= 0.0:
        return False
    digest = hashlib.blake2b(correlation_id.encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big") < fraction * _SPAN
