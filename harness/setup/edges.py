"""``[[idempotency]]``: operations parity probes with a repeated idempotency key (issue 27);
an operation whose contract declares an ``Idempotency-Key`` header is probed without one.

```toml
[[idempotency]]
operation = "POST /api/webhooks/alerts"
header = "Idempotency-Key"
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IdempotencyRule"]


class IdempotencyRule(BaseModel):
    """An operation that keeps the answer of a key and refuses the key with another body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = Field(description="operations (glob) to probe")
    header: str = Field("Idempotency-Key", description="the header carrying the key")
