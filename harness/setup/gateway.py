"""``[gateway]`` in parity.toml: where ``parity gateway`` listens, its two upstreams, and which
routes it serves from the legacy alone or shadows to the port."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.setup.shift import ShiftConfig

__all__ = ["INSTANCE_PATTERN", "GatewayConfig", "RouteSettings", "ShedConfig"]

Mode = Literal["legacy", "shadow"]
INSTANCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteSettings(_Strict):
    mode: Mode = Field(description="legacy: pass-through; shadow: also sent to the port, compared")
    shadow_fraction: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="the share of this route's reads shadowed (default: `[gateway] "
        "shadow_fraction`), sampled by correlation id",
    )


class ShedConfig(_Strict):
    """`[gateway.shed]`: new shadows are shed while the legacy is under strain (the
    gateway measures it on the answers it serves), so the port and the comparisons leave the
    CPU to the clients' requests; the share sent steps down while the strain lasts and back
    up after it, never under `floor`; every shed shadow is counted by reason."""

    enabled: bool = Field(True, description="shed shadows while the legacy is under strain")
    in_flight: int = Field(
        16,
        ge=0,
        description="shed while more requests than this wait for the legacy's answer "
        "(shed_in_flight; 0: never on this signal)",
    )
    window: int = Field(
        64, ge=1, description="the legacy's last answers whose p90 is checked when it fills"
    )
    latency_factor: float = Field(
        4.0,
        ge=0.0,
        description="shed (shed_latency) while a window's p90 is above this many times the "
        "calm baseline (the lowest window p90 of the last `baseline_windows`) and above "
        "`latency_min_ms`; resumes under 3/4 of that (0: never on this signal)",
    )
    latency_min_ms: float = Field(
        20.0, ge=0.0, description="a window p90 under this never sheds (jitter, not strain)"
    )
    baseline_windows: int = Field(
        256,
        ge=1,
        description="windows the calm baseline is the lowest of (a load that lasts longer "
        "becomes the new calm)",
    )
    floor: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="the share of new shadows still sent however strained the legacy is "
        "(every 1/floor-th one), so a saturated legacy keeps a sample of comparisons; 0: shed "
        "them all",
    )
    step_down: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="each window over the latency threshold multiplies the share of shadows "
        "sent by this (down to `floor`); 0: straight to the floor",
    )
    step_up: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="each window back under 3/4 of the threshold adds this to the share of "
        "shadows sent (shedding on latency ends at 1); 1: all at once",
    )
    budget: float = Field(
        0.1,
        ge=0.0,
        description="what the shadows may cost the legacy's clients, as a share of their "
        "answer time (p90): the gateway pauses the shadows now and then (an off period: it "
        "waits for the ones in flight to end and as long again, then times `probe` answers), "
        "reads the p90 of the last `probe` answers before the pause against the pause's, "
        "smooths the readings, and moves the share of shadows sent toward 40% of this, in "
        "proportion (the cost goes with the share): down by step_down at most a pause (never "
        "under floor), up by 1.1x at most (shed_cost; a shadow shares the legacy's machine "
        "when the port runs beside it: the port and the comparisons take the CPU its clients "
        "wait for; on a machine of its own the readings stay near 0 and every read is "
        "shadowed); 0: off",
    )
    probe: int = Field(
        64,
        ge=1,
        description="with `budget`: the answers a pause times, and as many before it (at "
        "least 16); until the shadows in flight have ended a pause holds back at most a window "
        "(or 4 x probe) of shadows, so a shadow that never ends cannot stop them all",
    )


class GatewayConfig(_Strict):
    listen: str = Field("127.0.0.1:8080", description="host:port the gateway serves clients on")
    admin_listen: str | None = Field(
        None,
        description="host:port for /metrics and /_parity/* (default: the client listener); "
        "both need the token either way",
    )
    legacy: str | None = Field(None, description="the legacy's base URL (answers the clients)")
    candidate: str | None = Field(None, description="the port's base URL (shadowed to)")
    legacy_secondary: str | None = Field(
        None,
        description="a second legacy instance (A/A, as Diffy's secondary): each shadowed read "
        "also goes to it, and a place where the two legacies' answers differ on that request "
        "is noise, never a finding against the port",
    )
    default_mode: Mode = Field("legacy", description="the mode of requests no route names")
    routes: dict[str, Mode | RouteSettings] = Field(
        default_factory=dict,
        description='`[gateway.routes]`: a contract operation ("GET /api/cases/{id}", globs '
        'allowed) or a path glob ("/api/cases/*") to its mode; operations match first',
    )
    databases: Literal["shared", "separate"] = Field(
        "shared",
        description="shared: the port reads the legacy's database, so writes are never "
        "mirrored (captured instead); separate: writes are shadowed too",
    )
    compare_only: bool = Field(
        False,
        description="a sink for requests another proxy mirrors (Envoy request_mirror_policies, "
        "NGINX mirror): the mirror gets 202 and nothing else; a safe request is fetched from "
        "the legacy and the port and compared; a write is captured, never sent to either",
    )
    shadow_in_flight: int = Field(64, ge=1, description="shadow requests in flight at most")
    shadow_fraction: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="the share of reads in shadow mode that are shadowed (a route's own "
        "`shadow_fraction` wins), sampled by correlation id (a hash, the same in every "
        "instance), as Envoy's mirror `runtime_fraction`; the rest are counted `sampled_out`",
    )
    shadow_max_body: int = Field(
        1_048_576, ge=0, description="request bodies larger than this (bytes) are not mirrored"
    )
    queue: int = Field(1000, ge=1, description="comparisons waiting for the worker at most")
    shed: ShedConfig = Field(
        default_factory=ShedConfig,
        description="`[gateway.shed]`: shadows shed while the legacy is under strain",
    )
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="the comparison worker's niceness: on a busy machine the legacy and the "
        "serving loop get the CPU first; a worker that falls behind fills its queue and the "
        "comparisons past it are dropped and counted, never the clients' answers (0: as the "
        "gateway)",
    )
    timeout_s: float = Field(30.0, gt=0, description="per upstream request")
    drain_s: float = Field(10.0, ge=0, description="SIGTERM: seconds in-flight requests get")
    recheck: bool = Field(
        True, description="re-read both sides when a write completed during a comparison"
    )
    token_env: str = Field(
        "PARITY_GATEWAY_TOKEN",
        description="the environment variable holding the admin and metrics token (never "
        "in the file); unset: those endpoints refuse everyone",
    )
    results: str = Field("reports/gateway", description="results.json is written here")
    capture: str | None = Field(
        None, description="a capture file (JSON Lines, the traffic format) of every exchange"
    )
    instance: str | None = Field(
        None,
        pattern=INSTANCE_PATTERN,
        description="this gateway's name when several write results and captures side by side: "
        "results go to `<results>/<instance>/results.json` and the capture to "
        '`<capture stem>-<instance><suffix>`; "auto": `<host>-<pid>` (a new name each start); '
        "unset (default): one instance, the paths as given. `parity gateway merge` joins them",
    )
    shared_writes: str | None = Field(
        None,
        description="a file every gateway instance on this machine maps to count the writes "
        "each sees, so a read on one instance that straddles a write through another is "
        "marked raced and read again (several instances behind one proxy); unset: each "
        "instance knows only its own writes",
    )
    capture_max: int = Field(100_000, ge=0, description="exchanges captured at most")
    shift: ShiftConfig = Field(
        default_factory=ShiftConfig,
        description="`[gateway.shift]`: canary and port modes, breaker, fallback, schedules",
    )
    capture_per_caller: int = Field(
        1000, ge=0, description="exchanges captured per caller at most (0: no limit)"
    )
