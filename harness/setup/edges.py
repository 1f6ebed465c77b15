"""``[[idempotency]]``: operations parity probes with a repeated idempotency key (issue 27);
an operation whose contract declares an ``Idempotency-Key`` header is probed without one.

```toml
[[idempotency]]
operation = "POST /api/webhooks/alerts"
header = "Idempotency-Key"

[[rate_limit]]
operation = "POST /api/webhooks/alerts"
max_requests = 8                    # the ladder's length: past the highest limit
# managed mode: both services restarted with these limits for the ladder, then as configured
restart_env = { WEBHOOK_RATE_LIMIT = "5", WEBHOOK_RATE_LIMIT_WINDOW_S = "60" }
window_s = 60                       # clock-aligned windows: never climb across a boundary
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
    restart_env: dict[str, str] = Field(
        default_factory=dict,
        description="managed mode: both services are restarted with these variables over their "
        "`[services.*] env` before this ladder (the run's own limits can stay off) and restarted "
        "as configured after the phase; rules with the same `restart_env` share one restart. "
        "URL mode: ignored (a note says so), the services' own limits are climbed",
    )
    window_s: float | None = Field(
        None,
        gt=0,
        description="the limit's window when windows are aligned to the clock (start = "
        "floor(now / window) * window): a ladder that would start within `window_margin_s` of "
        "a window's end waits for the next window, so it never straddles a boundary; it "
        "starts at least `tolerance_s` + 1 s into a window, so a window opened by the first "
        "request (not the clock) shows in `Retry-After`",
    )
    window_margin_s: float = Field(
        10.0, ge=0, description="with `window_s`: the time a ladder needs inside one window"
    )
