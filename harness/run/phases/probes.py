"""Probes: what a contract never lists but a port must copy, once per path.

Undeclared methods (405 against 404), a trailing slash (redirect or not), ``HEAD`` and an
``OPTIONS`` CORS preflight, and the auth scheme varied: another common prefix, a malformed
token, no credentials at all, and a token that was valid and is now logged out (a session
logged in and out through the contract's logout during setup). They run first, so
framework drift shows in the first requests of a run, not after the long phase. Each kind
can be switched off in ``[probes]`` (listed as skipped in the results).
"""

from __future__ import annotations

from dataclasses import replace

from harness.cases.generation import build_request
from harness.models import PreparedRequest
from harness.run.context import RunContext
from harness.setup.contract import Operation

__all__ = ["Probes", "plan_probes"]

LABEL = "probes (methods, slash, auth, CORS)"
PROBE_OP = Operation(id="probes", method="*", path="*", operation_id=None, statuses=(), api=None)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _auth_variants(prefix: str) -> list[tuple[str, str]]:
    """(label, header value) for the auth-scheme probes."""
    other = "Token " if prefix.strip().lower() == "bearer" else "Bearer "
    return [
        (f"auth:{other.strip()}", other + "parity-probe-token"),
        ("auth:malformed", prefix + "not.a.valid.token"),
        ("auth:empty", prefix.strip()),
    ]


def plan_probes(ctx: RunContext) -> list[PreparedRequest]:
    roles = [r for r in ctx.config.role_names(ctx.profile) if r is not None]
    role = roles[0] if roles else None
    auth = ctx.config.auth
    by_path: dict[str, list[Operation]] = {}
    for op in ctx.selected:
        by_path.setdefault(op.path, []).append(op)
    probes: list[PreparedRequest] = []
    kinds = ctx.config.probes  # [probes]: each kind on or off
    logged_out = ctx.pair.logged_out if kinds.auth else None
    for path, ops in by_path.items():
        sample = next((c for op in ops for c in ctx.cases.pool(op.id)[:1]), None)
        if sample is None:
            continue
        if logged_out is not None:
            # once per path: its first read (or its first operation) with the old token
            op = next((o for o in ops if o.method == "GET"), ops[0])
            base = next(iter(ctx.cases.pool(op.id)[:1]), None)
            if base is not None:
                probes.append(
                    replace(
                        base,
                        role=logged_out,
                        mode="probe",
                        operation=f"{op.id} [auth:logged-out]",
                    )
                )
        declared = {op.method for op in ops}
        for method in (*METHODS, "HEAD"):
            if method in declared or (method == "HEAD" and "GET" not in declared):
                continue
            if not (kinds.head if method == "HEAD" else kinds.methods):
                continue
            probes.append(
                build_request(
                    operation=f"{method} {path}",
                    method=method,
                    path=sample.path,
                    query=(),
                    headers=(("accept", "*/*"),),
                    role=role,
                    mode="probe",
                )
            )
        if "OPTIONS" not in declared and kinds.options:
            preflight = (
                ("accept", "*/*"),
                ("Origin", "http://parity.example"),
                ("Access-Control-Request-Method", sorted(declared)[0]),
                ("Access-Control-Request-Headers", "authorization,content-type"),
            )
            probes.append(
                build_request(
                    operation=f"OPTIONS {path}",
                    method="OPTIONS",
                    path=sample.path,
                    query=(),
                    headers=preflight,
                    role=None,
                    mode="probe",
                )
            )
        for op in ops:
            base = next(iter(ctx.cases.pool(op.id)[:1]), None)
            if base is None:
                continue
            if kinds.slash:
                probes.append(
                    replace(
                        base, path=base.path + "/", role=role, mode="probe", operation=f"{op.id}/"
                    )
                )
            if auth is not None and auth.roles and kinds.auth:
                scheme = auth.for_role(role)  # the scheme of the role the case is sent as
                header = scheme.header
                for label, value in _auth_variants(scheme.prefix):
                    probes.append(
                        replace(
                            base,
                            headers=(*base.headers, (header, value)),
                            role=None,
                            mode="probe",
                            operation=f"{op.id} [{label}]",
                        )
                    )
    return probes


class Probes:
    name = "probes"

    def execute(self, ctx: RunContext) -> None:
        if ctx.pair.logged_out_note:
            ctx.stats.notes.append(ctx.pair.logged_out_note)
        probes = plan_probes(ctx)
        if probes:
            ctx.replay_all(LABEL, PROBE_OP, probes)
