"""``[gateway.shift]`` in parity.toml: how ``parity gateway`` shifts routes to the port (the
runtime state file, the caller identity a canary sticks to, the breaker, the time budgets and
the promotion schedules). The route modes themselves change at runtime (admin API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BreakerConfig", "BudgetConfig", "IdentityConfig", "ScheduleConfig", "ShiftConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityConfig(_Strict):
    kind: Literal["me", "claim", "header", "cookie"] = Field(
        "me",
        description="me: ask the contract's me operation once per token; claim: a JWT claim; "
        "header/cookie: a stable user id the deployment already sends",
    )
    name: str = Field(
        "user.id",
        description="the field of me's answer, the claim, the header "
        "or the cookie that names the user",
    )
    path: str = Field("/api/auth/me", description="the me operation's path (kind = me)")
    session_cookie: str = Field("session", description="the session cookie when no bearer")
    ttl_s: float = Field(300.0, gt=0, description="how long a token's identity is cached")


class BreakerConfig(_Strict):
    consecutive: int = Field(5, ge=1, description="consecutive port failures that open it")
    error_rate: float = Field(0.5, gt=0, le=1, description="failure share over the window")
    window_s: float = Field(30.0, gt=0, description="the error-rate window")
    min_requests: int = Field(20, ge=1, description="requests in the window before the rate counts")
    open_s: float = Field(10.0, gt=0, description="seconds open before a half-open probe")


class BudgetConfig(_Strict):
    port_s: float = Field(5.0, gt=0, description="the port's timeout on a port-served request")
    legacy_s: float = Field(10.0, gt=0, description="the legacy's timeout on a fallback")
    total_s: float = Field(12.0, gt=0, description="the most a client waits in all")


class ScheduleConfig(_Strict):
    steps: list[float] = Field([10, 50, 100], description="percents, increasing")
    min_comparisons: int = Field(200, ge=1, description="comparisons a step needs to advance")
    min_bake_s: float = Field(300.0, ge=0, description="seconds a step lasts at least")
    agreement: float = Field(0.99, ge=0, le=1, description="agreement needed to advance")
    p95_factor: float = Field(1.5, gt=0, description="port p95 at most this x legacy p95")
    max_error_rate: float = Field(0.02, ge=0, le=1, description="port errors: rollback above")
    max_fallback_rate: float = Field(0.05, ge=0, le=1, description="fallbacks: rollback above")
    max_disagreement_rate: float = Field(0.05, ge=0, le=1, description="rollback above")
    rollback_min_samples: int = Field(20, ge=1, description="samples before a rollback")


class ShiftConfig(_Strict):
    state_file: str = Field(
        "reports/gateway/state.json",
        description="route modes changed at runtime, kept across restarts; its change log "
        "is beside it (.log.jsonl)",
    )
    seed: str = Field("", description="mixed into each caller's canary bucket")
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    budget: BudgetConfig = Field(
        default_factory=BudgetConfig, description="time budgets of a route without its own"
    )
    budgets: dict[str, BudgetConfig] = Field(
        default_factory=dict,
        description='`[gateway.shift.budgets."GET /api/export"]`: a route\'s own time budgets '
        "(a slow export, a fast read); keys are routes as in the admin API",
    )
    schedules: dict[str, ScheduleConfig] = Field(
        default_factory=dict,
        description='`[gateway.shift.schedules."GET /api/cases"]`: opt-in promotion per route',
    )
