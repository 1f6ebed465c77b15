"""``parity.toml``: services, snapshot, auth, normalization rules, accepted differences, profiles.

Validated with pydantic (unknown keys and wrong types are errors) so a typo in the config
fails the run with the file and the place, instead of silently weakening the comparison.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import HarnessError
from harness.setup.edges import IdempotencyRule, RateLimitRule
from harness.setup.envelope import Envelope, Side
from harness.setup.gateway import GatewayConfig
from harness.setup.settling import SettleRule
from harness.setup.signing import SigningConfig
from harness.setup.traffic import TrafficConfig

__all__ = [
    "AcceptRule",
    "AfterStartStep",
    "AuthConfig",
    "AuthScheme",
    "CompareConfig",
    "DbConfig",
    "ExternalConfig",
    "FixtureRule",
    "NormalizeRule",
    "ParityConfig",
    "PoolRule",
    "ProbesConfig",
    "Profile",
    "ServiceConfig",
    "SnapshotConfig",
    "TableMap",
    "UnprovenRule",
    "load_config",
    "token_variable",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Command = list[str] | str


class AfterStartStep(_Strict):
    """One step of ``[[snapshot.after_start]]``: a command, or a request to the contract."""

    command: Command | None = Field(
        None,
        description="argv list (or a shell-free string); `{url}` (the service's origin and "
        "base path), `{port}`, `{database}` and `{python}` are filled in",
    )
    cwd: str | None = Field(
        None,
        description="command: working directory, relative to parity.toml (default: [snapshot] cwd)",
    )
    method: str | None = Field(None, description='request: the method, e.g. "POST"')
    path: str | None = Field(
        None, description='request: the path relative to the base path, e.g. "/api/items"'
    )
    body: Any = Field(None, description="request: the JSON body (none: no body)")
    role: str | None = Field(
        None, description="request: the [auth.roles] role it is sent as (default: anonymous)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> AfterStartStep:
        request = self.method is not None or self.path is not None
        if (self.command is None) == (not request):
            raise ValueError("an after_start step is a command, or a request (method and path)")
        if request and not (self.method and self.path and self.path.startswith("/")):
            raise ValueError("a request step has a method and a path starting with /")
        if self.command is None and self.cwd is not None:
            raise ValueError("cwd goes with command")
        return self


class SnapshotConfig(_Strict):
    """How to build the one seeded database both targets start from."""

    command: Command = Field(
        description="argv list (or a shell-free string); `{database}` and `{seed}` are filled in"
    )
    cwd: str = Field(".", description="working directory, relative to parity.toml")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    seed: int = Field(42, description="the seed passed to the seeding command as `{seed}`")
    timeout_s: float = Field(180.0, description="seconds before the snapshot build is an error")
    after_start: list[AfterStartStep] = Field(
        default_factory=list,
        description="`[[snapshot.after_start]]`, managed mode: steps run once, in order, on "
        "the legacy started on the seeded snapshot (commands, or contract requests as a role: "
        "registering users, creating rows through the API); the legacy is then stopped and "
        "its database becomes the snapshot both sides start from. A step that fails (exit "
        "status, a non-2xx answer) stops the run",
    )


class ServiceConfig(_Strict):
    """One managed service: how to start it on `{port}` over its copy of `{database}`."""

    name: str | None = Field(None, description="shown in reports (default: the target's key)")
    command: Command = Field(
        description="argv list; `{port}`, `{database}` (a file or a URL), `{database_path}` "
        "(SQLite, else empty), `{database_url}` (PostgreSQL, else empty; the plain "
        "`postgresql://user@host:port/db` form any driver accepts) and `{python}` are "
        "filled in; the same in `env`"
    )
    cwd: str = Field(".", description="working directory, relative to parity.toml")
    database_load: Command | None = Field(
        None,
        description="PostgreSQL: fills the empty template database `{database}` (a plain "
        "`postgresql://` URL) from "
        "the seeded SQLite `{snapshot}`; each target gets a clone of it (default: the "
        "snapshot's own schema and rows, SQLite types translated: `python -m harness.db.load`)",
    )
    source: str | None = Field(
        None,
        description="the service's source directory, for its git commit in the results "
        "(default: cwd)",
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    health: str = Field("/health", description="path that answers 2xx once the service is up")
    startup_timeout_s: float = Field(60.0, description="seconds to wait for the health check")


TOKEN_ENV_PREFIX = "PARITY_TOKEN_"
"""``PARITY_TOKEN_<ROLE>``: a role's fixed token, sent as is instead of logging in."""


def token_variable(role: str) -> str:
    """The environment variable that may hold ``role``'s fixed token: ``PARITY_TOKEN_`` and
    the role's name upper-cased, every character but letters and digits as ``_``."""
    return TOKEN_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", role).upper()


class RoleConfig(_Strict):
    body: dict[str, Any] | None = Field(
        None,
        description="the JSON body of this role's login request (none: the role has a fixed "
        "token, `token_env` or `$PARITY_TOKEN_<ROLE>`)",
    )
    token_env: str | None = Field(
        None,
        description="the environment variable holding this role's fixed token, sent as is "
        "(where [auth] puts a token) instead of logging in, never renewed; default: "
        "`PARITY_TOKEN_<ROLE>` (the role upper-cased, other characters as `_`) when it is set",
    )
    cases: bool = Field(
        True,
        description="send cases as this role by default; false: it only logs in (a realtime "
        "subscriber from another unit, say) unless a profile names it",
    )
    # this role's own scheme: each key as in [auth], each optional (default: [auth]'s)
    login: str | None = Field(
        None, description="this role's login operation (default: [auth] login)"
    )
    token_path: str | None = Field(
        None, description="where this role's token is in its login answer (default: [auth]'s)"
    )
    header: str | None = Field(
        None,
        description="the header carrying this role's token, e.g. \"X-API-Key\" (default: [auth]'s)",
    )
    prefix: str | None = Field(
        None,
        description='text before this role\'s token in that header; "" for none (default: '
        "[auth]'s)",
    )
    token_in: Literal["header", "query", "cookie"] | None = Field(
        None, description="where this role's token goes (default: [auth]'s)"
    )
    name: str | None = Field(
        None, description="this role's query parameter or session cookie (default: [auth]'s)"
    )
    csrf_header: str | None = Field(
        None, description="this role's CSRF header on unsafe requests (default: [auth]'s)"
    )
    csrf_from: str | None = Field(
        None, description="where this role's login answer has the CSRF token (default: [auth]'s)"
    )
    expires_path: str | None = Field(
        None, description="where this role's login answer says its token's life (default: [auth]'s)"
    )
    token_ttl_s: float | None = Field(
        None,
        description="seconds this role's token lives when its login does not say "
        "(default: [auth]'s)",
    )


# the [auth] keys a role may override (AuthConfig.for_role)
SCHEME_KEYS = (
    "login",
    "token_path",
    "header",
    "prefix",
    "token_in",
    "name",
    "csrf_header",
    "csrf_from",
    "expires_path",
    "token_ttl_s",
)


@dataclass(frozen=True)
class AuthScheme:
    """One role's effective auth settings: its `[auth.roles.<name>]` keys over `[auth]`'s."""

    login: str | None = None
    token_path: str = "$.token"
    header: str = "Authorization"
    prefix: str = "Bearer "
    token_in: str = "header"  # "header" | "query" | "cookie"
    name: str | None = None
    csrf_header: str | None = None
    csrf_from: str | None = None
    expires_path: str | None = None
    token_ttl_s: float | None = None

    def where(self) -> str:
        """Where the token goes, for messages: ``header X-API-Key``, ``query token``, ..."""
        if self.token_in == "header":
            return f"header {self.header}" + (f" ({self.prefix.strip()})" if self.prefix else "")
        return f"{self.token_in} {self.name}"


class AuthConfig(_Strict):
    login: str | None = Field(
        None,
        description='the login operation, e.g. "POST /api/auth/login"; none: every role has '
        "a fixed token (`token_env`, `$PARITY_TOKEN_<ROLE>`)",
    )
    token_path: str = Field("$.token", description="where the token is in the login response")
    header: str = Field("Authorization", description="the header that carries the token")
    prefix: str = Field("Bearer ", description="text before the token in that header")
    token_in: Literal["header", "query", "cookie"] = Field(
        "header",
        description='where the token goes: "header" (`header`, `prefix`), "query" (the query '
        'parameter `name`) or "cookie" (the cookies the login set; the token is cookie `name`)',
    )
    name: str | None = Field(
        None, description="the query parameter (token_in = query) or session cookie (cookie)"
    )
    csrf_header: str | None = Field(
        None, description="header that carries the CSRF token on unsafe requests (POST, ...)"
    )
    csrf_from: str | None = Field(
        None,
        description='where the login answer has the CSRF token: "cookie:NAME", "header:NAME" '
        'or a body path "$.csrf"',
    )
    expires_path: str | None = Field(
        None,
        description='where the login answer says how many seconds the token lives ("$.expiresIn"); '
        "a token is renewed by logging in again before it expires",
    )
    token_ttl_s: float | None = Field(
        None, description="seconds a token lives when the login answer does not say"
    )
    anonymous: bool = Field(True, description="also send cases without credentials")
    strip_headers: list[str] = Field(
        default_factory=lambda: ["authorization"],
        description="generated headers dropped (credentials come from the roles only)",
    )
    strip_cookies: bool = Field(True, description="drop generated cookies")
    session_ending: list[str] | None = Field(
        None,
        description="operations (globs) that can end or change their caller's session; in URL "
        "mode each of their cases runs on a session of its own (default: logout, sign-out, "
        "password and session operations, and deletes of users, accounts and /me)",
    )
    logout: str | None = Field(
        None,
        description='the logout operation ("POST /api/auth/logout"), for the probe with a '
        "token that was valid and is now logged out; default: the contract's POST or DELETE "
        "operation whose path says logout or sign-out, if there is one",
    )
    roles: dict[str, RoleConfig] = Field(
        default_factory=dict, description="`[auth.roles.<name>]`: who cases are sent as"
    )
    signing: SigningConfig | None = Field(
        None, description="`[auth.signing]`: HMAC signatures of the signed operations' bodies"
    )

    @model_validator(mode="after")
    def _logins(self) -> AuthConfig:
        bodies = [
            name
            for name, role in self.roles.items()
            if role.body is not None and self.for_role(name).login is None
        ]
        if bodies:
            raise ValueError(
                f"roles {', '.join(bodies)} have a login body but [auth] names no login "
                "operation: set login (in [auth] or the role), or give them token_env instead"
            )
        return self

    def for_role(self, role: str | None) -> AuthScheme:
        """``role``'s effective settings: each key its `[auth.roles.<name>]` sets, else
        `[auth]`'s. Every reader of the scheme (login, renewal, the transport, curl lines,
        probes) goes through here. A session key (``admin#3``, ``admin#logged-out``) is its
        role's; None or an unknown role: `[auth]`'s."""
        own = self.roles.get(role.partition("#")[0]) if role is not None else None
        values = {key: getattr(self, key) for key in SCHEME_KEYS}
        if own is not None:
            values.update({k: v for k in SCHEME_KEYS if (v := getattr(own, k)) is not None})
        return AuthScheme(**values)

    def login_operations(self) -> list[str]:
        """Every login operation the roles use ([auth] login and the roles' own), in order."""
        out = [self.login] if self.login else []
        for role in self.roles:
            op = self.for_role(role).login
            if op is not None and op not in out:
                out.append(op)
        return out

    def fixed_token(self, role: str, env: Mapping[str, str] | None = None) -> str | None:
        """``role``'s fixed token from its ``token_env`` or ``$PARITY_TOKEN_<ROLE>``; None
        when the role logs in. A role with neither a token nor a way to log in, or whose
        ``token_env`` is unset, is an error (exit 2: no request of it can be authenticated)."""
        env = os.environ if env is None else env
        cfg = self.roles[role]
        variable = cfg.token_env or token_variable(role)
        value = env.get(variable)
        if value:
            return value
        login = self.for_role(role).login
        if cfg.token_env is not None or cfg.body is None or login is None:
            raise HarnessError(
                f"[auth.roles.{role}]: no token: set ${variable} to the role's fixed token"
                + ("" if cfg.token_env or login is None else ", or give it a login body"),
                kind="auth",
            )
        return None

    def token_source(self, role: str) -> str:
        """Where ``role``'s fixed token comes from, for messages: ``$VARIABLE``."""
        return "$" + (self.roles[role].token_env or token_variable(role))


# Headers `headers = ["*"]` leaves out, and why (each one documented in docs/config.md):
# - date: each side's clock; server, x-powered-by: the framework's banner, not the API;
# - connection, keep-alive, proxy-connection, te, trailer, upgrade, transfer-encoding:
#   hop-by-hop framing of one connection (RFC 9110 7.6.1), not the answer;
# - content-length: the bodies are always compared, and one framed as chunked has none.
# vary, cache-control, etag, content-encoding, content-disposition, retry-after, ... are
# compared: a client or a cache acts on them.
DEFAULT_SKIP_HEADERS = (
    "date",
    "server",
    "x-powered-by",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
    "content-length",
)


class CompareConfig(_Strict):
    headers: list[str] = Field(
        default_factory=lambda: ["*"],
        description="response headers compared (bodies and statuses always are); default "
        '["*"]: every header either side answered with, but `skip_headers` and those the run '
        "learns are noise (`learn_headers`); names listed beside it are compared whatever the "
        'skip list says; a list without "*" compares exactly the headers it names',
    )
    skip_headers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SKIP_HEADERS),
        description='with "*": headers (names or globs, "x-nextjs-*") not compared; the '
        "default: date, server, x-powered-by, the hop-by-hop headers (connection, keep-alive, "
        "proxy-connection, te, trailer, upgrade, transfer-encoding) and content-length (the "
        "bodies are compared); setting it replaces the default, so list those too",
    )
    learn_headers: bool = Field(
        True,
        description='with "*": a header whose value differs between two answers of the legacy '
        "to one request is noise: not compared for the rest of the run, and said in the "
        "results' `stats.notes`; the run asks the legacy's health check twice before the first "
        "comparison and the first case of each GET operation twice (and learns from the A/A "
        'twin when calibrating, `noise = "calibrate"`)',
    )
    cookie_attribute_values: list[str] = Field(
        default_factory=lambda: ["path", "samesite", "max-age", "domain"],
        description="set-cookie: names and attribute names are compared; these attributes' "
        "values too",
    )
    timeout_s: float = Field(10.0, description="per-request timeout; a timeout is status 0")


Action = Literal["ignore", "mask", "tolerance", "unordered", "id_map", "status", "unwrap"]


class RequestCondition(_Strict):
    """Limits a rule to the requests that show its cause (every condition given must hold),
    so one known cause is accepted on every operation where it shows and nothing else is."""

    value_contains: str | None = Field(
        None,
        description="a request value (path, query, body, a file's bytes) contains this text, "
        'e.g. "\\u0000"',
    )
    body_path: str | None = Field(
        None, description='a JSON path of the request body ("$.title", "$..name") that exists'
    )
    matches: str | None = Field(
        None, description="body_path: a full-match regex one of its values must match"
    )
    role: list[str] | None = Field(
        None, description='the request\'s role is one of these ("anonymous" for none)'
    )

    @model_validator(mode="after")
    def _valid(self) -> RequestCondition:
        if self.value_contains is None and self.body_path is None and self.role is None:
            raise ValueError("when: name at least one of value_contains, body_path, role")
        if self.matches is not None and self.body_path is None:
            raise ValueError("when: matches goes with body_path")
        if self.body_path is not None and not self.body_path.startswith("$"):
            raise ValueError(f"when: body_path must start with $: {self.body_path!r}")
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"when: matches is not a regex: {exc}") from None
        return self


class NormalizeRule(_Strict):
    operation: str = Field(
        "*", description='glob over "METHOD /route/{template}" (a bare path glob works too)'
    )
    location: str = Field(description='"body:$..createdAt", "header:date", "db:sessions.token"')
    action: Action = Field(
        description="ignore, mask, tolerance, unordered, id_map, status or unwrap"
    )
    pattern: str | None = Field(None, description="mask: a full-match regex")
    replacement: str = Field(
        "<masked>", description='mask: text, or "{shape}" (digits->0, letters->a)'
    )
    ms: float | None = Field(None, description="tolerance: milliseconds for ISO-8601 times")
    any_format: bool = Field(
        False,
        description="tolerance: compare instants whatever their ISO-8601 precision or offset "
        "(by default a different format is drift even within the tolerance)",
    )
    request_window: bool = Field(
        True,
        description="tolerance (ms): only for two values each side stamped during a request "
        "whose writes are still in its state (the value at or after its own side's request "
        "start, or a common offset after it, e.g. now + 7 days); any other pair of times, "
        "such as those from the snapshot, must match exactly. false: any two times within ms",
    )
    skew_ms: float = Field(
        0.0,
        description="tolerance (ms): how far a service's clock may be from the harness's "
        "(URL mode with services on other machines)",
    )
    abs: float | None = Field(None, description="tolerance: absolute difference for numbers")
    key: str | None = Field(None, description="unordered: sort array items by this field")
    legacy: str | None = Field(
        None, description='status: the legacy\'s status or class ("200", "4xx")'
    )
    candidate: str | None = Field(
        None, description='status: the candidate\'s status or class that equals it ("201")'
    )
    side: Side | None = Field(None, description="unwrap: the side whose answers are wrapped")
    envelope: Envelope = Field(
        default_factory=Envelope, description="unwrap: where the envelope keeps what"
    )
    reason: str = Field("", description="why this is noise (shown in the report)")
    when: RequestCondition | None = Field(
        None, description="only on requests that meet this condition (see [accept.when])"
    )
    status: dict[Literal["legacy", "candidate"], int | str] | None = Field(
        None,
        description="the plain form of a status rule: `status = { legacy = 200, candidate = "
        "201 }` (no location or action needed)",
    )

    @model_validator(mode="before")
    @classmethod
    def _plain_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("status"), dict):
            pair = data["status"]
            data = {"location": "status", "action": "status", **data}
            for side in ("legacy", "candidate"):
                if side in pair:
                    data.setdefault(side, str(pair[side]))
        return data

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if value != "status" and not value.startswith(("body:", "header:", "db:")):
            raise ValueError('location must be "status" or start with body:, header: or db:')
        return value

    @model_validator(mode="after")
    def _status_rule(self) -> NormalizeRule:
        if (self.action == "status") != (self.location == "status"):
            raise ValueError('action "status" goes with location "status" and only with it')
        if (self.action == "unwrap") != (self.side is not None):
            raise ValueError('action "unwrap" names the wrapped side (side = "candidate")')
        if self.action == "unwrap" and self.location != "body:$":
            raise ValueError('an "unwrap" rule is for the whole body: location = "body:$"')
        if self.action == "status" and not (self.legacy and self.candidate):
            raise ValueError('a "status" rule names both legacy and candidate statuses')
        for value in (self.legacy, self.candidate):
            if value is not None and not re.fullmatch(r"[1-5](\d\d|xx|XX)", value):
                raise ValueError(f"{value!r} is not a status (200) or a class (4xx)")
        return self


class AcceptRule(_Strict):
    operation: str = Field(description="route template (globs allowed)")
    location: str = Field(
        description="where, as the report names it (globs allowed; a status pair is "
        '"status:200 vs 201")'
    )
    kind: str = Field(description='the finding\'s kind, or "*"')
    reason: str = Field(description="why the difference is intended")
    expires: dt.date = Field(description="after this date the run fails again")
    profiles: list[str] | None = Field(
        None,
        description="only in these profiles (e.g. the engine move's pg profile); default all",
    )
    when: RequestCondition | None = Field(
        None,
        description="only on requests that meet this condition: the difference is accepted "
        "where its cause shows (a NUL in a value, a body field, a role), on any operation",
    )


class PoolRule(_Strict):
    """Where the values of a path parameter that names an existing row come from (by
    default: the collection's list operation, as each role sees it)."""

    operation: str = Field("*", description="operations (glob) whose parameter this fills")
    parameter: str = Field(description='the path parameter, e.g. "id"')
    values: list[Any] | None = Field(None, description="fixed values (fixtures)")
    sql: str | None = Field(None, description="a query on the seeded snapshot; first column")
    source: str | None = Field(
        None, description='a list operation whose items name rows, e.g. "GET /api/cases"'
    )
    field: str | None = Field(
        None,
        description="the items' field to take (default: the field named like the parameter, "
        'else "id")',
    )


FixtureIn = Literal["path", "query", "body"]


def _everywhere() -> list[FixtureIn]:
    return ["path", "query", "body"]


class FixtureRule(_Strict):
    """Values for every parameter or JSON body field of this name; `name = [1, 2]` is short.

    Real user ids for `assigneeId`, real emails for `sharedWith`: every operation taking a
    path or query parameter or a JSON body field of that name gets cases with each value, as
    each role (both sides get the same bytes), in the generated cases and the rows phase."""

    values: list[Any] | None = Field(None, description="fixed values")
    sql: str | None = Field(
        None, description="a query on the seeded snapshot; the first column of each row"
    )
    source: str | None = Field(
        None,
        description='a list operation whose response holds the values, e.g. "GET /api/users", '
        "sent (GET, no parameters) as each role, values in first-seen order",
    )
    path: str | None = Field(
        None,
        description='source: a JSONPath into its response, e.g. "$.data[*].email" (default: '
        "the `id` of each item of the list)",
    )
    operations: list[str] = Field(
        default_factory=lambda: ["*"], description="operations (globs) it applies to"
    )
    locations: list[FixtureIn] = Field(
        default_factory=_everywhere,
        description="where the name is matched: path or query parameters, JSON body fields "
        "(at any depth of the body schema)",
    )
    limit: int = Field(8, ge=1, description="values used at most, in order")

    @model_validator(mode="after")
    def _one_source(self) -> FixtureRule:
        given = [k for k in ("values", "sql", "source") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a fixture has exactly one of values, sql or source")
        if self.path is not None and self.source is None:
            raise ValueError("path goes with source")
        return self


class UnprovenRule(_Strict):
    """An operation the gate may leave unproven (no documented 2xx from both sides)."""

    operation: str = Field(description="route template (globs allowed)")
    reason: str = Field(description="why no success can be reached for it")


class Profile(_Strict):
    positive: int = Field(30, description="generated positive cases per operation")
    negative: int = Field(15, description="generated negative cases per operation")
    roles: list[str] | None = Field(
        None, description='roles to send as ("anonymous" too); default: every configured role'
    )
    shrink: bool = Field(True, description="shrink each finding to a minimal example")
    shrink_budget: int = Field(40, description="re-sends per finding while shrinking")
    invariants: bool = Field(True, description="check [invariants] after each write")
    stateless: bool = Field(True, description="run the probes and the generated cases")
    stateful_sequences: int = Field(0, description="lockstep sequences along the contract's links")
    max_steps: int = Field(5, description="steps per sequence at most")
    transition_sequences: int = Field(
        0,
        description="lockstep sequences that cross states: a create, the writes that change the "
        "created row's state (a status PATCH, POST /{id}/resolve, ...), then the row's item "
        "and the lists filtered on its new state and its old one, learned from the contract "
        "(see `transitions`)",
    )
    transitions: bool = Field(
        True, description="send the `transition_sequences` (false: off, whatever the budget)"
    )
    pool: int = Field(12, description="positive cases drawn per operation for sequence steps")
    noise: Literal["off", "calibrate", "reuse"] = Field(
        "off",
        description='A/A noise: "calibrate" runs a second legacy and suppresses, request by '
        "request, what also differs legacy-against-legacy (a write kept for what follows it, "
        "in a sequence or growth, has no twin: a place of its operation that differed A/A "
        'earlier in the run is noise there); "reuse" applies a saved calibration (to a '
        "sequence's step: any place it saw vary)",
    )
    data_values: int = Field(
        8,
        description="cases per operation whose string, id and date-time query parameters and "
        "body fields take values from the snapshot's rows (0: off)",
    )
    scoped_values: int = Field(
        12,
        description="cases per operation whose query parameters that select or match rows "
        "take values found only in rows of one unit, team or owner (a scoping column: a "
        "foreign key to a root table such as users, or a column copied from it) or only in "
        "rows where it is NULL, as each role, alone and with the scope's filter parameter; "
        "and whose id fields (query, body) take ids of rows the sending role can and cannot "
        "see: those the table's list answered each role, then the snapshot's by the role's "
        "user row (0: off)",
    )
    combinations: int = Field(
        12,
        description="positive cases per operation whose optional query parameters follow a "
        "pairwise covering array (enum values, bounds, examples, values from the data, absent; "
        "0: off)",
    )
    state_bodies: int = Field(
        24,
        description="rows phase, per operation that names a row: cases whose row (each state "
        "the rows phase found, as each role sees it) and body fields (enum values, null, "
        "absent, fixture values, bounds) follow a pairwise covering array (0: off)",
    )
    combined_files: int = Field(
        2,
        description="per CSV file part of a contract example: files that put the import's "
        "edges together (a quoted line break, a blank line and non-ASCII text, each between "
        "two rejected rows, in each order; BOM or none, CRLF or LF, a final newline or none, "
        "many rejected rows, an extra header column), at most 12 (0: off)",
    )
    page_walks: int = Field(
        3,
        description="per list operation that pages (a cursor, offset or page parameter): walks "
        "to the last page on both sides, every page compared, from the barest query and from "
        "filters drawn from the data, page sizes putting the end exactly full, one short, one "
        "over (0: off)",
    )
    growth_rows: int = Field(
        60,
        description="per list whose page-size parameter has a default or a maximum and whose "
        "collection has a create that succeeded in the run: creates sent again on both sides "
        "(at most this many) until the list holds default + 1 and maximum + 1 rows, then the "
        "list read without and with the size parameter and walked to its last page, before "
        "the restore (0: off)",
    )
    reads_after_writes: int = Field(
        4,
        description="per operation and phase (stateless, rows): successful writes followed, "
        "before the restore, by the reads of what they wrote on both sides (the item by its "
        "id, the lists, searches, counts, aggregates and exports it affects; 0: off)",
    )
    readback_max: int = Field(
        5,
        description="reads sent after one followed write (see reads_after_writes): the "
        "written item, then the reads the run learned the touched tables affect (their "
        "answers changed against the restored snapshot after an earlier write of the same "
        "operation), then reads still explored, least tried first: those whose path names a "
        "touched table, then every safe operation without path parameters (lists, exports, "
        "search, counts, aggregates; sent with the contract's required and example query "
        "values in turn) in an order drawn from the seed (0: no reads after writes)",
    )
    interop: bool = Field(False, description="both services on one shared database file")
    interop_cases: int = Field(4, description="interop: creates per operation and direction")
    cache: bool = Field(
        True, description="reuse generated cases across runs (keyed on all that shapes them)"
    )
    probes: bool = Field(
        True, description="undeclared methods, trailing slash, HEAD, CORS, auth schemes"
    )
    databases: dict[str, Literal["sqlite", "postgresql"]] = Field(
        default_factory=dict,
        description="managed mode: each target's database engine, e.g. { candidate = "
        '"postgresql" } (default sqlite); PostgreSQL runs on a private server started for the '
        "run",
    )
    require_proof: bool = Field(
        True,
        description="the gate: the verdict is agree only when every selected operation got a "
        "documented 2xx from both sides (false for diagnostic profiles that exercise a part "
        "of the contract, such as stateful-only runs)",
    )
    realtime: bool = Field(
        False, description="subscribe to [realtime] on both sides and compare the streams"
    )
    rows: bool = Field(
        True,
        description="send each operation that names a row by a path parameter for real rows "
        "in each state (see [[pool]])",
    )
    restart_jobs: Literal["rules", "off", "legacy", "candidate", "both"] = Field(
        "rules",
        description='managed mode, the background-job durability probe: "rules", as each '
        '[[settle]] rule\'s restart says; "off", never; "legacy", "candidate" or "both": '
        "restart these services under every settled job (at each rule's restart_when, up to "
        "its restarts)",
    )

    @property
    def transition_budget(self) -> int:
        """Transition sequences this profile sends (0 when ``transitions`` is off)."""
        return self.transition_sequences if self.transitions else 0

    @property
    def sequence_count(self) -> int:
        """Sequence numbers of a run: the random ones, then the transition ones."""
        return self.stateful_sequences + self.transition_budget


class RealtimeConfig(_Strict):
    """A realtime channel (WebSocket) both services push events on."""

    path: str = Field(description='the channel\'s path on each service, e.g. "/api/realtime"')
    asyncapi: str | None = Field(
        None, description="the AsyncAPI document that describes it (for readers; relative)"
    )
    quiet_ms: float = Field(
        300.0, description="a stream is complete after this long without a message"
    )
    timeout_s: float = Field(5.0, description="longest wait for a stream to go quiet")
    writes_per_operation: int = Field(
        2,
        description="writes per operation replayed while subscribed (at least: one per role "
        "that succeeded on the operation)",
    )


class ExternalConfig(_Strict):
    setup_command: Command | None = Field(
        None,
        description="URL mode: run once before the first login (e.g. register the test "
        "users); every run, unless `setup_inputs` is set",
    )
    setup_inputs: list[str] | None = Field(
        None,
        description="URL mode: the files `setup_command` reads (paths or globs relative to "
        '`cwd`, e.g. `["seed.sql", "fixtures/*.json"]`; `[]`: none). When set, the command '
        "is skipped while a stamp of it (the command, `env`, the two URLs and each file's "
        "path and content) matches the one its last successful run left in "
        "`<report-dir>/.cache/setup/`; delete that folder to run it again anyway",
    )
    reset_command: Command | None = Field(
        None,
        description="URL mode: restores both services' state; run before the first scenario "
        "and then only before a case that could observe an earlier write (batched); with "
        "`databases`: after each write, before parity restores the databases",
    )
    cwd: str = Field(".", description="working directory of reset_command")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="URL mode: environment variables added for setup_command and "
        "reset_command (the services' own scripts); `${VAR}` is taken from the environment",
    )
    timeout_s: float = Field(60.0, description="seconds before reset_command is an error")
    databases: dict[Literal["legacy", "candidate"], str] = Field(
        default_factory=dict,
        description="URL mode: each side's database, both or neither: a SQLite file (a path "
        "relative to this file, or `sqlite:///path`) or a `postgresql://` URL (a superuser: "
        "parity installs triggers and a baseline schema, removed at the end); `${VAR}` is "
        "taken from the environment. With them, write diffs and invariants run in URL mode, "
        "parity restores each database after a write, and interop runs when both are SQLite "
        "and `[services]` say how to start each side",
    )
    show_data_values: bool = Field(
        False,
        description="show the values parity took from a user's data as they are in the "
        "console, the HTML report, results.json, JUnit, curl lines and replay scripts: in URL "
        "mode, those read from the legacy's database (`databases`: search terms, filters, "
        "ids and instants of stored rows it puts in requests), and those of `[traffic] "
        "values_from`; false: each is a placeholder, `<data:table.column>`, also where an "
        "answer or a written row repeats it whole, and each step lists them (`masked`). "
        "Values of a snapshot parity seeded (managed mode) are never masked",
    )

    @model_validator(mode="after")
    def _inputs_of_a_command(self) -> ExternalConfig:
        if self.setup_inputs is not None and self.setup_command is None:
            raise ValueError("setup_inputs goes with setup_command")
        return self

    @field_validator("databases")
    @classmethod
    def _both_sides(cls, value: dict[str, str]) -> dict[str, str]:
        if value and set(value) != {"legacy", "candidate"}:
            raise ValueError(
                "name both sides' databases (legacy and candidate) or neither: a write diff "
                "needs both"
            )
        return value


class TableMap(_Strict):
    """One table the two sides name differently (another engine, schema or naming)."""

    legacy: str = Field(description='the legacy\'s table, e.g. "articles"')
    candidate: str = Field(description='the candidate\'s table with the same rows, "article"')
    columns: dict[str, str] = Field(
        default_factory=dict, description="legacy column -> candidate column, where renamed"
    )


class DbConfig(_Strict):
    map: list[TableMap] = Field(
        default_factory=list,
        description="tables (and columns) compared under the legacy's names: a declared "
        "rename is compared, not reported; an undeclared one is found by its columns and "
        "reported as a db_table finding",
    )


class ProbesConfig(_Strict):
    """Each kind of probe switched on or off (all on by default); a kind switched off sends
    none of its requests and is listed as skipped in the results and the report."""

    methods: bool = Field(True, description="undeclared methods on each path (405 against 404)")
    slash: bool = Field(True, description="each operation's path with a trailing slash")
    head: bool = Field(True, description="HEAD on each path that has a GET")
    options: bool = Field(True, description="an OPTIONS CORS preflight on each path")
    auth: bool = Field(
        True,
        description="the auth scheme varied (another prefix, a malformed token, none) and a "
        "logged-out token (a session logged out during setup)",
    )
    idempotency: bool = Field(
        True, description="the idempotency-key phase ([[idempotency]] and declared keys)"
    )
    rate_limit: bool = Field(True, description="the rate-limit ladder ([[rate_limit]])")

    def off(self) -> list[str]:
        """The kinds switched off, in declaration order."""
        return [name for name in type(self).model_fields if not getattr(self, name)]


class NoiseConfig(_Strict):
    file: str = Field(
        "noise.json", description="where a calibration is saved and reused from (relative)"
    )
    margin: float = Field(0.05, description="reuse: suppress when ab_rate <= aa_rate*1.25+margin")


class InvariantsConfig(_Strict):
    file: str | None = Field(None, description="a Python file registering @invariant checks")
    api_role: str | None = Field(
        None,
        description='who ctx.api() GETs as; default "admin" if configured, else the first role',
    )


class ParityConfig(_Strict):
    contract: str | None = Field(None, description="the OpenAPI file, relative to this file")
    overlays: list[str] = Field(
        default_factory=list,
        description="OpenAPI Overlay 1.0 documents applied to the contract in order "
        "(examples, formats, links the contract lacks), relative to this file",
    )
    base_path: str | None = Field(
        None,
        description="prefix of every operation's path on both services (default: the path "
        'of the contract\'s first `servers` URL, e.g. "/api")',
    )
    candidate_contract: str | None = Field(
        None,
        description='the candidate\'s own OpenAPI: a path on its origin ("/openapi.json"), a '
        "URL or a file relative to this file; compared with `contract` before any request "
        "(static contract drift, findings of kind `contract`)",
    )
    snapshot: SnapshotConfig | None = Field(None, description="the seeded database (managed)")
    services: dict[str, ServiceConfig] = Field(
        default_factory=dict, description="`legacy` and `candidate` (managed mode)"
    )
    auth: AuthConfig | None = Field(None, description="how roles log in and send credentials")
    gateway: GatewayConfig = Field(
        default_factory=GatewayConfig, description="`[gateway]`: `parity gateway`"
    )
    traffic: TrafficConfig = Field(
        default_factory=TrafficConfig, description="`[traffic]`: replaying captured traffic"
    )
    compare: CompareConfig = Field(default_factory=CompareConfig, description="what is compared")
    normalize: list[NormalizeRule] = Field(
        default_factory=list, description="`[[normalize]]`: noise rules, each with a reason"
    )
    accept: list[AcceptRule] = Field(
        default_factory=list, description="`[[accept]]`: intended differences, with expiry"
    )
    pool: list[PoolRule] = Field(
        default_factory=list,
        description="`[[pool]]`: values for path parameters that name existing rows",
    )
    fixtures: dict[str, FixtureRule | list[Any]] = Field(
        default_factory=dict,
        description="`[fixtures.<name>]`: values for every parameter or body field of that "
        "name (path, query, JSON body)",
    )
    settle: list[SettleRule] = Field(
        default_factory=list,
        description="`[[settle]]`: operations that start background jobs, followed to their "
        "end before answers and writes are compared (any 202 with a Location is followed)",
    )
    idempotency: list[IdempotencyRule] = Field(
        default_factory=list,
        description="`[[idempotency]]`: operations probed with a repeated idempotency key "
        "(those declaring an Idempotency-Key header are probed anyway)",
    )
    rate_limit: list[RateLimitRule] = Field(
        default_factory=list,
        description="`[[rate_limit]]`: operations whose limit is found by a ladder of requests "
        "(last phase; set the services' limits for the run in their env)",
    )
    unproven: list[UnprovenRule] = Field(
        default_factory=list,
        description="`[[unproven]]`: operations the gate may leave without a 2xx on both sides",
    )
    profiles: dict[str, Profile] = Field(
        default_factory=lambda: {"default": Profile()}, description="`[profiles.<name>]`"
    )
    external: ExternalConfig = Field(
        default_factory=ExternalConfig, description="URL mode (--legacy-url, --candidate-url)"
    )
    realtime: RealtimeConfig | None = Field(
        None, description="the realtime channel compared by profiles with realtime = true"
    )
    invariants: InvariantsConfig = Field(
        default_factory=InvariantsConfig, description="database invariants"
    )
    noise: NoiseConfig = Field(default_factory=NoiseConfig, description="A/A calibration file")
    probes: ProbesConfig = Field(
        default_factory=ProbesConfig,
        description="`[probes]`: each kind of probe on or off (a profile's `probes = false` "
        "turns the probes phase off whole)",
    )
    db: DbConfig = Field(default_factory=DbConfig, description="database write diffs")
    exclude: list[str] = Field(default_factory=list, description="operation globs never exercised")

    # set by load_config, not by the file
    base_dir: Annotated[Path, Field(exclude=True)] = Path(".")
    source: Annotated[Path, Field(exclude=True)] = Path("parity.toml")

    @property
    def unwrap_rules(self) -> list[NormalizeRule]:
        """The ``unwrap`` rules: applied to answers as they arrive (``Pair.send``)."""
        return [r for r in self.normalize if r.action == "unwrap"]

    def resolve(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()

    def external_databases(self) -> dict[str, str]:
        """``[external] databases`` with ``${VAR}`` expanded and SQLite paths made absolute
        (relative to this file); PostgreSQL URLs as given."""
        import os

        out: dict[str, str] = {}
        for key, raw in self.external.databases.items():
            value = os.path.expandvars(raw)
            scheme = value.partition("://")[0].lower() if "://" in value else ""
            if scheme.startswith("postgres"):
                out[key] = value
                continue
            path = value.partition("://")[2] if scheme else value
            if scheme and path.startswith("/"):
                path = path[1:]  # as SQLAlchemy: sqlite:///rel.db relative, sqlite:////abs.db
            out[key] = str(self.resolve(path))
        return out

    def profile(self, name: str | None) -> Profile:
        if name is None:
            name = "dev" if "dev" in self.profiles else next(iter(self.profiles), "default")
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise HarnessError(f"{self.source}: unknown profile {name!r} (known: {known})")
        return self.profiles[name]

    def fixture_rules(self) -> dict[str, FixtureRule]:
        """``[fixtures]`` with the bare-list shorthand spelled out."""
        return {
            name: rule if isinstance(rule, FixtureRule) else FixtureRule(values=list(rule))
            for name, rule in self.fixtures.items()
        }

    def overlay_paths(self) -> list[Path]:
        return [self.resolve(o) for o in self.overlays]

    def accept_rules(self, profile: str) -> list[AcceptRule]:
        """The accept rules in force for ``profile``."""
        return [r for r in self.accept if r.profiles is None or profile in r.profiles]

    def invariant_api_role(self) -> str | None:
        """Who ``ctx.api`` GETs as: ``[invariants] api_role``, else ``admin`` if configured,
        else the first role, else nobody (anonymous)."""
        if self.invariants.api_role is not None or self.auth is None or not self.auth.roles:
            return self.invariants.api_role
        return "admin" if "admin" in self.auth.roles else next(iter(self.auth.roles))

    def role_names(self, profile: Profile) -> list[str | None]:
        configured: list[str | None] = list(self.auth.roles) if self.auth else []
        if profile.roles is None and self.auth is not None:
            configured = [r for r in configured if r is None or self.auth.roles[r].cases]
        if self.auth is None or self.auth.anonymous:
            configured.append(None)
        if profile.roles is None:
            return configured
        out: list[str | None] = []
        for role in profile.roles:
            value = None if role == "anonymous" else role
            if value not in configured:
                raise HarnessError(f"{self.source}: profile role {role!r} is not configured")
            out.append(value)
        return out


def _place(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def load_config(path: Path) -> ParityConfig:
    """Read and validate ``parity.toml``; any problem is a HarnessError naming file and place."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read config: {exc.strerror}", kind="config") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: invalid TOML: {exc}", kind="config") from exc
    try:
        config = ParityConfig.model_validate(data)
    except ValidationError as exc:
        from harness.setup.schema import explain

        text = raw.decode("utf-8")
        problems = "; ".join(
            explain(ParityConfig, text, dict(err), _place(err["loc"]))
            for err in exc.errors(include_url=False)
        )
        raise HarnessError(f"{path}: invalid config: {problems}", kind="config") from exc
    for name in config.services:
        if name not in ("legacy", "candidate"):
            raise HarnessError(
                f"{path}: services.{name}: targets must be named 'legacy' and 'candidate'",
                kind="config",
            )
    api_role = config.invariants.api_role
    if api_role is not None and (config.auth is None or api_role not in config.auth.roles):
        known = ", ".join(sorted(config.auth.roles)) if config.auth else "none"
        raise HarnessError(
            f"{path}: invariants.api_role: {api_role!r} is not an [auth.roles] role "
            f"(known: {known})",
            kind="config",
        )
    return config.model_copy(update={"base_dir": path.parent.resolve(), "source": path})


def _type_name(annotation: Any) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = text.replace("<class '", "").replace("'>", "")
    text = re.sub(r"\b[\w]+\.(?=[\w.]*\w)", "", text)  # module prefixes
    return text.replace("|", "\\|")


def _section(model: type[BaseModel], title: str, out: list[str]) -> None:
    nested: list[tuple[type[BaseModel], str]] = []
    out += [f"## `{title}`", ""]
    if model.__doc__ and model is not ParityConfig:
        out += [model.__doc__.strip().splitlines()[0], ""]
    out += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        if info.is_required():
            default = "required"
        elif info.default_factory is not None:
            default = "see below" if _model_of(info.annotation) else "`[]`/`{}`"
        else:
            default = f"`{info.default!r}`"
        desc = (info.description or "").replace("|", "\\|")
        out.append(f"| `{name}` | `{_type_name(info.annotation)}` | {default} | {desc} |")
        sub = _model_of(info.annotation)
        if sub is not None:
            nested.append((sub, _subtitle(title, name, info.annotation)))
    out.append("")
    for sub, subtitle in nested:
        _section(sub, subtitle, out)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    from harness.setup.schema import model_of

    return model_of(annotation)


def _subtitle(parent: str, name: str, annotation: Any) -> str:
    base = "" if parent == "parity.toml" else parent.strip("[]") + "."
    text = repr(annotation)
    if text.startswith("list["):
        return f"[[{base}{name}]]"
    if text.startswith("dict["):
        return f"[{base}{name}.<name>]"
    return f"[{base}{name}]"


def reference_markdown() -> str:
    """``docs/config-reference.md``, generated from the model so it cannot drift."""
    out = [
        "# `parity.toml` reference",
        "",
        "Generated from `harness/setup/config.py` (`python -m harness.setup.config --write`); "
        "a test fails when this file and the model disagree. Unknown keys are errors.",
        "",
    ]
    _section(ParityConfig, "parity.toml", out)
    return "\n".join(out).rstrip() + "\n"


REFERENCE_FILE = Path(__file__).resolve().parents[2] / "docs" / "config-reference.md"

if __name__ == "__main__":
    import sys

    from harness.setup.schema import SCHEMA_FILE, json_schema

    if sys.argv[1:] == ["--write"]:
        REFERENCE_FILE.write_text(reference_markdown(), encoding="utf-8")
        print(f"wrote {REFERENCE_FILE}")
        SCHEMA_FILE.write_text(json_schema(ParityConfig), encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
    else:
        sys.stdout.write(reference_markdown())
