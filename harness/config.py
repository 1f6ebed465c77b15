"""``parity.toml``: services, snapshot, auth, normalization rules, accepted differences, profiles.

Validated with pydantic (unknown keys and wrong types are errors) so a typo in the config
fails the run with the file and the place, instead of silently weakening the comparison.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import HarnessError

__all__ = [
    "AcceptRule",
    "AuthConfig",
    "CompareConfig",
    "ExternalConfig",
    "NormalizeRule",
    "ParityConfig",
    "Profile",
    "ServiceConfig",
    "SnapshotConfig",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Command = list[str] | str


class SnapshotConfig(_Strict):
    """How to build the one seeded database both targets start from."""

    command: Command
    cwd: str = "."
    env: dict[str, str] = Field(default_factory=dict)
    seed: int = 42
    timeout_s: float = 180.0


class ServiceConfig(_Strict):
    name: str | None = None
    command: Command
    cwd: str = "."
    env: dict[str, str] = Field(default_factory=dict)
    health: str = "/health"
    startup_timeout_s: float = 60.0


class RoleConfig(_Strict):
    body: dict[str, Any]


class AuthConfig(_Strict):
    login: str  # "POST /api/auth/login"
    token_path: str = "$.token"
    header: str = "Authorization"
    prefix: str = "Bearer "
    anonymous: bool = True  # also send cases without credentials
    strip_headers: list[str] = Field(default_factory=lambda: ["authorization"])
    strip_cookies: bool = True
    roles: dict[str, RoleConfig] = Field(default_factory=dict)


class CompareConfig(_Strict):
    headers: list[str] = Field(default_factory=lambda: ["content-type", "location", "set-cookie"])
    # set-cookie: cookie names and attribute names are compared; these attributes' values too
    cookie_attribute_values: list[str] = Field(
        default_factory=lambda: ["path", "samesite", "max-age", "domain"]
    )
    timeout_s: float = 10.0


Action = Literal["ignore", "mask", "tolerance", "unordered", "id_map"]


class NormalizeRule(_Strict):
    operation: str = "*"  # glob over "METHOD /route/{template}" (a bare path glob works too)
    location: str  # "body:$..createdAt", "header:date", "db:sessions.token"
    action: Action
    pattern: str | None = None  # mask: a full-match regex
    replacement: str = "<masked>"  # mask: text, or "{shape}" (digits->0, letters->a)
    ms: float | None = None  # tolerance for ISO times
    abs: float | None = None  # tolerance for numbers
    key: str | None = None  # unordered: sort array items by this field
    reason: str = ""

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if not value.startswith(("body:", "header:", "db:")):
            raise ValueError("location must start with body:, header: or db:")
        return value


class AcceptRule(_Strict):
    operation: str
    location: str
    kind: str
    reason: str
    expires: dt.date


class Profile(_Strict):
    positive: int = 30  # generated positive cases per operation
    negative: int = 15  # generated negative cases per operation
    roles: list[str] | None = None  # default: every configured role (+ anonymous)
    shrink: bool = True
    shrink_budget: int = 40  # re-sends per finding group
    max_examples_per_finding: int = 1
    invariants: bool = True
    stateless: bool = True
    stateful_sequences: int = 0  # lockstep sequences along the contract's links
    max_steps: int = 5
    pool: int = 12  # positive cases drawn per operation for sequence steps
    # A/A noise: "calibrate" runs a second legacy on its own copy and suppresses, request by
    # request, what also differs legacy-against-legacy; "reuse" applies a saved calibration
    noise: Literal["off", "calibrate", "reuse"] = "off"
    interop: bool = False  # both services on one shared database file
    interop_cases: int = 4  # creates per operation and direction
    cache: bool = True  # reuse generated cases (same contract, seed, counts, versions)
    probes: bool = True  # undeclared methods and trailing-slash variants, once per path


class ExternalConfig(_Strict):
    reset_command: Command | None = None
    cwd: str = "."
    timeout_s: float = 60.0


class NoiseConfig(_Strict):
    file: str = "noise.json"  # where a calibration is saved and reused from (relative)
    margin: float = 0.05  # reuse: suppress when ab_rate <= aa_rate * 1.25 + margin


class InvariantsConfig(_Strict):
    file: str | None = None
    # who ctx.api() calls as; default "admin" if configured, else the first [auth.roles] role
    api_role: str | None = None


class ParityConfig(_Strict):
    contract: str | None = None  # relative to this file
    snapshot: SnapshotConfig | None = None
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    compare: CompareConfig = Field(default_factory=CompareConfig)
    normalize: list[NormalizeRule] = Field(default_factory=list)
    accept: list[AcceptRule] = Field(default_factory=list)
    profiles: dict[str, Profile] = Field(default_factory=lambda: {"default": Profile()})
    external: ExternalConfig = Field(default_factory=ExternalConfig)
    invariants: InvariantsConfig = Field(default_factory=InvariantsConfig)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    exclude: list[str] = Field(default_factory=list)  # operation globs never exercised

    # set by load_config, not by the file
    base_dir: Annotated[Path, Field(exclude=True)] = Path(".")
    source: Annotated[Path, Field(exclude=True)] = Path("parity.toml")

    def resolve(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()

    def profile(self, name: str | None) -> Profile:
        if name is None:
            name = "dev" if "dev" in self.profiles else next(iter(self.profiles), "default")
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise HarnessError(f"{self.source}: unknown profile {name!r} (known: {known})")
        return self.profiles[name]

    def invariant_api_role(self) -> str | None:
        """Who ``ctx.api`` GETs as: ``[invariants] api_role``, else ``admin`` if configured,
        else the first role, else nobody (anonymous)."""
        if self.invariants.api_role is not None or self.auth is None or not self.auth.roles:
            return self.invariants.api_role
        return "admin" if "admin" in self.auth.roles else next(iter(self.auth.roles))

    def role_names(self, profile: Profile) -> list[str | None]:
        configured: list[str | None] = list(self.auth.roles) if self.auth else []
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
        problems = "; ".join(
            f"{_place(err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
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
