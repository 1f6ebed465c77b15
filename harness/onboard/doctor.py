"""``parity doctor``: check a config against the running pair before a run, one line per
problem with what to fix.

Why: a wrong base path, password or header otherwise shows up as a run of 404s or 401s
whose cause the user has to dig out of a report.
"""

from __future__ import annotations

import argparse
import email.utils
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.setup.config import ParityConfig, load_config
from harness.setup.contract import Contract, load_contract, match_operation

__all__ = ["Problem", "diagnose", "main"]

CLOCK_SLACK_S = 2.0
"""Date headers have a one-second resolution: more than this apart is a real skew."""


@dataclass(frozen=True)
class Problem:
    where: str
    what: str
    fix: str

    def line(self) -> str:
        return f"{self.where}: {self.what} -> {self.fix}"


def _send(client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response | None:
    try:
        return client.request(method, url, **kw)
    except httpx.HTTPError:
        return None


def _token(resp: httpx.Response, token_path: str) -> str | None:
    try:
        node: Any = resp.json()
    except ValueError:
        return None
    for part in [p for p in re.split(r"\.|\[|\]", token_path.removeprefix("$")) if p]:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


def _skew(resp: httpx.Response, sent: float, answered: float) -> float | None:
    """Seconds the service's Date header is off this machine's clock (None: no header)."""
    date = resp.headers.get("date")
    if not date:
        return None
    try:
        stamp = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None
    if sent - 1 <= stamp <= answered + 1:
        return 0.0
    return stamp - (sent if stamp < sent else answered)


def diagnose(
    config: ParityConfig, contract: Contract, urls: dict[str, str], timeout_s: float = 10.0
) -> list[Problem]:
    """Every problem found, in the order a run would meet them."""
    problems: list[Problem] = []
    base = config.base_path if config.base_path is not None else contract.base_path
    ops = contract.operations
    for pattern in config.exclude:
        if not any(match_operation(pattern, op.id) for op in ops):
            problems.append(
                Problem(
                    f"{config.source}: exclude",
                    f"{pattern!r} matches no operation of the contract",
                    "fix the glob (METHOD /path as the contract writes it) or drop it",
                )
            )
    problems += check_databases(config)
    auth = config.auth
    logins = auth.login_operations() if auth is not None else []
    for login_op in logins:
        if not any(op.id == login_op for op in ops):
            problems.append(
                Problem(
                    f"{config.source}: [auth] login",
                    f"{login_op!r} is not an operation of the contract",
                    "name the login operation as METHOD /path, relative to base_path",
                )
            )
    with httpx.Client(timeout=timeout_s) as client:
        up: dict[str, str] = {}
        for side, url in urls.items():
            sent = time.time()
            resp = _send(client, "GET", url.rstrip("/") + base + "/")
            answered = time.time()
            if resp is None:
                problems.append(
                    Problem(side, f"{url} does not answer", "start it, or fix --{side}-url")
                )
                continue
            up[side] = url.rstrip("/") + base
            skew = _skew(resp, sent, answered)
            if skew is not None and abs(skew) > CLOCK_SLACK_S:
                problems.append(
                    Problem(
                        side,
                        f"its clock is {skew:+.0f} s off this machine's (Date header)",
                        f"sync its clock, or set skew_ms = {abs(skew) * 1000:.0f} on time "
                        "tolerance rules",
                    )
                )
        reads = [
            op for op in ops if op.method == "GET" and "{" not in op.path and op.id not in logins
        ]
        for side, root in up.items():
            answers = [_send(client, "GET", root + op.path) for op in reads[:3]]
            if reads and all(a is None or a.status_code == 404 for a in answers):
                problems.append(
                    Problem(
                        side,
                        f"base path {base!r} answers 404 to "
                        + ", ".join(op.id for op in reads[:3]),
                        "set base_path in parity.toml to the prefix the service serves",
                    )
                )
        tokens: dict[str, dict[str, str]] = {side: {} for side in up}
        fixed: dict[str, str] = {}
        if auth is not None:
            fixed, missing = _fixed_tokens(config)
            problems += missing
            problems += _fixed_refused(client, config, up, fixed, reads)
            for side in up:
                tokens[side].update(fixed)
        if auth is not None and logins:
            for role, rc in auth.roles.items():
                scheme = auth.for_role(role)
                if role in fixed or rc.body is None or scheme.login is None:
                    continue
                if not any(op.id == scheme.login for op in ops):
                    continue  # said above
                path = scheme.login.split(" ", 1)[1]
                failed = []
                for side, root in up.items():
                    resp = _send(client, "POST", root + path, json=rc.body)
                    client.cookies.clear()  # credentials go only where [auth] says
                    token = _token(resp, scheme.token_path) if resp is not None else None
                    if resp is not None and scheme.token_in == "cookie":
                        jar = {c.name: c.value or "" for c in resp.cookies.jar}
                        token = "; ".join(f"{k}={v}" for k, v in jar.items()) or None
                    if resp is None or not resp.is_success:
                        failed.append(f"{side} {resp.status_code if resp else 'no answer'}")
                    elif token is None:
                        failed.append(f"{side} answered with no token at {scheme.token_path}")
                    else:
                        tokens[side][role] = token
                if failed:
                    problems.append(
                        Problem(
                            f"{config.source}: [auth.roles.{role}]",
                            f"does not log in ({'; '.join(failed)})",
                            "fix its body (credentials) or [auth] token_path",
                        )
                    )
            logged_in = {
                side: {r: t for r, t in got.items() if r not in fixed}
                for side, got in tokens.items()
            }
            problems += _token_accepted(client, config, contract, up, logged_in, reads)
        problems += _reach(client, config, up, tokens, ops, contract.raw)
    return problems


def _fixed_tokens(config: ParityConfig) -> tuple[dict[str, str], list[Problem]]:
    """Each fixed-token role's credential as ``_credentials`` sends it (a cookie session's
    is its Cookie line), and a problem per role whose token is missing."""
    auth = config.auth
    assert auth is not None
    out: dict[str, str] = {}
    problems = []
    for role in auth.roles:
        try:
            token = auth.fixed_token(role)
        except HarnessError:
            variable = auth.token_source(role)
            problems.append(
                Problem(
                    f"{config.source}: [auth.roles.{role}]",
                    f"no fixed token: {variable} is not set",
                    f"export {variable[1:]}=<the role's token>"
                    + (
                        ""
                        if auth.for_role(role).login is None
                        else ", or give the role a login body"
                    ),
                )
            )
            continue
        if token is not None:
            scheme = auth.for_role(role)
            cookie = scheme.token_in == "cookie" and scheme.name
            out[role] = f"{scheme.name}={token}" if cookie else token
    return out, problems


def _fixed_refused(
    client: httpx.Client,
    config: ParityConfig,
    up: dict[str, str],
    fixed: dict[str, str],
    reads: list[Any],
) -> list[Problem]:
    """A fixed token every read answers 401 to, per role and side: expired, revoked or sent
    the wrong way (the run stops on it)."""
    assert config.auth is not None
    problems = []
    for role, token in fixed.items():
        refused = []
        for side, root in up.items():
            answers = [
                _send(client, "GET", root + op.path, **_credentials(config, token, role))
                for op in reads[:3]
            ]
            if answers and all(a is not None and a.status_code == 401 for a in answers):
                refused.append(f"{side} 401 to {reads[0].id}")
        if refused:
            problems.append(
                Problem(
                    f"{config.source}: [auth.roles.{role}]",
                    f"its fixed token ({config.auth.token_source(role)}) is refused "
                    f"({'; '.join(refused)})",
                    "set a fresh token, or fix how [auth] sends it (header, prefix, token_in)",
                )
            )
    return problems


def _sqlite_tables(path: str) -> set[str] | None:
    """The tables of a SQLite file, read-only; None when it is not one."""
    if not Path(path).is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {r[0] for r in rows if not r[0].startswith("sqlite_")}
    except sqlite3.Error:
        return None


def check_databases(config: ParityConfig) -> list[Problem]:
    """``[external] databases`` that are not SQLite files, and ``[[db.map]]`` tables that
    are not in them (PostgreSQL is checked by the run, which connects as a superuser)."""
    problems: list[Problem] = []
    where = f"{config.source}: [external] databases"
    tables: dict[str, set[str]] = {}
    for side, path in config.external_databases().items():
        if path.split("://")[0].lower().startswith("postgres"):
            continue
        found = _sqlite_tables(path)
        if found is None:
            problems.append(
                Problem(
                    f"{where}.{side}",
                    f"{path} is not a SQLite database",
                    f"give the file the {side} service writes (relative to the config)",
                )
            )
        else:
            tables[side] = found
    for n, rule in enumerate(config.db.map):
        for side in ("legacy", "candidate"):
            name = getattr(rule, side)
            if side in tables and name not in tables[side]:
                problems.append(
                    Problem(
                        f"{config.source}: [[db.map]] #{n + 1}",
                        f"the {side} database has no table {name!r}",
                        "name one of: " + ", ".join(sorted(tables[side])[:8]),
                    )
                )
    return problems


def _credentials(config: ParityConfig, token: str | None, role: str | None) -> dict[str, Any]:
    """httpx arguments that send ``role``'s token where its scheme puts it (a cookie
    session's token is its Cookie line)."""
    auth = config.auth
    if auth is None or token is None:
        return {}
    scheme = auth.for_role(role)
    if scheme.token_in == "query":
        return {"params": {scheme.name or "api_key": token}}
    if scheme.token_in == "cookie":
        return {"headers": {"Cookie": token}}
    return {"headers": {scheme.header: scheme.prefix + token}}


def _token_accepted(
    client: httpx.Client,
    config: ParityConfig,
    contract: Contract,
    up: dict[str, str],
    tokens: dict[str, dict[str, str]],
    reads: list[Any],
) -> list[Problem]:
    """A logged-in role's first read answering 401 means the token is sent the wrong way."""
    from harness.onboard.init import find_auth

    assert config.auth is not None
    declared = find_auth(contract.raw)
    fix = "set header and prefix to the contract's securitySchemes"
    if declared is not None and declared.token_in != "header":
        fix = "set how the token goes to the contract's securitySchemes"
        fix += f" (token_in = {declared.token_in!r}, name = {declared.name!r})"
    elif declared is not None:
        fix += f" (header = {declared.header!r}, prefix = {declared.prefix!r})"
    for side, root in up.items():
        for role, token in tokens[side].items():
            for op in reads[:3]:
                resp = _send(client, "GET", root + op.path, **_credentials(config, token, role))
                if resp is not None and resp.status_code == 401:
                    return [
                        Problem(
                            f"{config.source}: [auth]",
                            f"{side}: {op.id} answers 401 to role {role}'s token sent as "
                            + (
                                f"{scheme.header}: {scheme.prefix!r}+token"
                                if (scheme := config.auth.for_role(role)).token_in == "header"
                                else f"{scheme.token_in} {scheme.name}"
                            ),
                            fix,
                        )
                    ]
            break
    return []


def _reach(
    client: httpx.Client,
    config: ParityConfig,
    up: dict[str, str],
    tokens: dict[str, dict[str, str]],
    ops: list[Any],
    contract_raw: dict[str, Any],
) -> list[Problem]:
    """A cheap probe per operation: 405, or a 404 it does not document, means no route. A
    write is probed only without credentials where the contract requires them (a real route
    then refuses it before doing anything); a public write is not probed."""
    problems = []
    for op in ops:
        if any(match_operation(p, op.id) for p in config.exclude):
            continue
        safe = op.method in ("GET", "HEAD", "OPTIONS")
        if not safe and not _secured(contract_raw, op):
            continue
        path = re.sub(r"\{[^}]+\}", "1", op.path)
        missed = []
        for side, root in up.items():
            role, token = next(iter(tokens[side].items()), (None, None)) if safe else (None, None)
            kw: dict[str, Any] = _credentials(config, token, role)
            if op.method in ("POST", "PUT", "PATCH"):
                kw["json"] = {}
            resp = _send(client, op.method, root + path, **kw)
            if resp is None:
                continue
            if resp.status_code == 405 or (resp.status_code == 404 and "404" not in op.statuses):
                missed.append(f"{side} {resp.status_code}")
        if missed:
            problems.append(
                Problem(
                    op.id,
                    f"no route ({', '.join(missed)})",
                    "check base_path, or list it under exclude / [[unproven]] with a reason",
                )
            )
    return problems


def _secured(raw: dict[str, Any], op: Any) -> bool:
    """The operation needs credentials: its own ``security``, else the document's, non-empty."""
    item = (raw.get("paths") or {}).get(op.path) or {}
    own = (item.get(op.method.lower()) or {}).get("security")
    return bool(own if own is not None else raw.get("security"))


def main(args: argparse.Namespace) -> int:
    """Print one line per problem; exit 1 when there is any, 0 when none."""
    config = load_config(Path(args.config))
    contract_path = (
        Path(args.contract) if args.contract else config.resolve(config.contract or "openapi.yaml")
    )
    contract = load_contract(contract_path, config.overlay_paths())
    problems = diagnose(
        config, contract, {"legacy": args.legacy_url, "candidate": args.candidate_url}
    )
    for problem in problems:
        print(problem.line())
    print(f"{len(problems)} problem(s)" if problems else "no problems found")
    return 1 if problems else 0
