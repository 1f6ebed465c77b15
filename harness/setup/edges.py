"""``[[idempotency]]``: operations parity probes with a repeated idempotency key (issue 27);
an operation whose contract declares an ``Idempotency-Key`` header is probed without one.

```toml
[[idempotency]]
operation = "POST /api/webhooks/alerts"
header = "Idempotency-Key"

[[rate_limit]]
operation = "POST /api/webhooks/alerts"
max_requests = 60                   # the ladder's length: past the highest limit
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IdempotencyRule", "RateLimitRule"]


class IdempotencyRule(BaseModel):
    """An operation that keeps the answer of a key and refuses the key with another body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = Field(description="operations (glob) to probe")
    header: str = Field("Idempotency-Key", description="the header carrying the key")


class RateLimitRule(BaseModel):
    """An operation with a rate limit: a ladder of its valid request finds where each side
    starts refusing, and compares the two thresholds and their ``Retry-After``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = Field(description="operations (glob) to climb the ladder on")
    max_requests: int = Field(60, ge=1, le=10_000, description="the ladder's length")
    status: int = Field(429, description="the status that says the limit is reached")
    header: str = Field("retry-after", description="the header saying when to come back")
    tolerance_s: float = Field(
        2.0, ge=0, description="how far the two Retry-After values may differ (clock noise)"
    )
