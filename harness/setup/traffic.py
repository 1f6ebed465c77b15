"""``[traffic]`` in parity.toml: who each captured caller replays as, and what is redacted."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CallerRule", "TrafficConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallerRule(_Strict):
    role: str = Field(description="the configured role (`[auth.roles.<name>]`) to replay as")
    identity: str | None = Field(
        None,
        description="the caller's identity as the recorder saw it (an email, a user name); "
        "matched by its keyed HMAC under `$PARITY_TRAFFIC_KEY`, so the file never holds it",
    )
    caller: str | None = Field(None, description="the caller's pseudonym as in the capture")


class TrafficConfig(_Strict):
    role: str | None = Field(
        None,
        description="the role for callers no rule names (default: the role whose login "
        "identity is the caller's, else the first configured role)",
    )
    callers: list[CallerRule] = Field(
        default_factory=list, description="`[[traffic.callers]]`: a caller to a role"
    )
    redact_fields: list[str] = Field(
        default_factory=list,
        description="body fields and query parameters never stored (passwords always are)",
    )
    redact_headers: list[str] = Field(
        default_factory=list,
        description="headers never stored (Authorization, Cookie, Set-Cookie always are)",
    )
    pseudonymize: list[str] = Field(
        default_factory=list,
        description="fields whose values are stored as their keyed HMAC (names, emails)",
    )
    values_from: list[str] = Field(
        default_factory=list,
        description="capture or HAR files whose query values and JSON body fields feed the "
        "data-driven cases (next to the snapshot's values; relative to parity.toml)",
    )
    snapshots: dict[str, str] = Field(
        default_factory=dict,
        description="`[traffic.snapshots]`: a snapshot name a capture's header may give -> the "
        "SQLite file it is (relative to parity.toml); both sides start from a copy of it. A "
        "header may also give `seed N` (the configured [snapshot] command, seed N) or a "
        "SQLite file's path",
    )
    retention_days: float | None = Field(
        None,
        gt=0,
        description="captures written by parity (the gateway's) drop exchanges older than "
        "this many days (unset: kept)",
    )
    retention_bytes: int | None = Field(
        None,
        gt=0,
        description="captures written by parity drop their oldest exchanges past this size "
        "(unset: no limit)",
    )
    streams: bool = Field(
        True,
        description="replay the capture's realtime subscriptions: each channel it subscribed "
        "to is opened on both sides as the subscriber's role for the whole replay, and after "
        "each request what the two sides pushed to each role is compared (a missing, extra or "
        "other event is a finding of that request)",
    )
    unproven_share: float = Field(
        0.5,
        description="a replay where more than this share of requests answered 404 on both "
        "sides proves nothing (verdict incomplete)",
    )
