"""``parity init``: from two running services to a commented ``parity.toml`` that runs.

Why: a new user should not read the harness's code to point it at a pair. Every guess is
checked against the running services and written with its evidence, so a wrong one is
easy to see and fix.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from harness.compare.comparison import compare_bodies
from harness.compare.normalization import RuleSet, generalize, parse_time, shape
from harness.errors import HarnessError
from harness.setup.config import DEFAULT_SKIP_HEADERS, TOKEN_ENV_PREFIX, token_variable
from harness.setup.contract_diff import diff_contracts

__all__ = ["CONTRACT_PLACES", "ROLE_ENV_PREFIX", "InitResult", "init_config"]

CONTRACT_PLACES = ("/openapi.json", "/openapi.yaml", "/docs/openapi.json", "/swagger.json")
ROLE_ENV_PREFIX = "PARITY_ROLE_"
"""``PARITY_ROLE_ADMIN="admin:secret"`` (or a JSON login body): the role ``admin``."""
NOT_COMPARED = frozenset(DEFAULT_SKIP_HEADERS)  # `[compare] skip_headers`' default
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_SECRET = re.compile(r"pass(word)?|secret|pin", re.I)
_LOGIN = re.compile(r"login|sign.?in|session|token|auth|keys?$", re.I)
_TOKEN = re.compile(r"token|api.?key|jwt|^key$|session", re.I)
_CSRF = re.compile(r"csrf|xsrf", re.I)
_EXPIRES = re.compile(r"expires?.?in|ttl|lifetime", re.I)
_NUMBERS = ("integer", "number")


@dataclass
class InitResult:
    config_path: Path
    text: str
    notes: list[str] = field(default_factory=list)


def _get(client: httpx.Client, url: str, **kw: Any) -> httpx.Response | None:
    try:
        return client.get(url, **kw)
    except httpx.HTTPError:
        return None


def _parse_contract(text: str, where: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise HarnessError(f"{where}: not JSON or YAML: {exc}", kind="input") from exc
    if not isinstance(raw, dict) or "paths" not in raw:
        raise HarnessError(f"{where}: not an OpenAPI document (no paths)", kind="input")
    return raw


def find_contract(
    client: httpx.Client, legacy: str, given: str | None
) -> tuple[dict[str, Any], str, str]:
    """(document, its text, where it came from): given as a path or URL, else the usual places
    on the legacy (at the URL's root, then under its path)."""
    if given and not given.startswith(("http://", "https://")):
        path = Path(given)
        if not path.is_file():
            raise HarnessError(f"--contract {given}: no such file", kind="input")
        text = path.read_text()
        return _parse_contract(text, given), text, given
    urls = [given] if given else []
    if not given:
        root = legacy.rstrip("/")
        parts = urlsplit(root)
        origin = f"{parts.scheme}://{parts.netloc}"
        for place in CONTRACT_PLACES:
            urls.append(origin + place)
            if parts.path.strip("/"):
                urls.append(root + place)
    for url in urls:
        resp = _get(client, url)
        if resp is not None and resp.status_code == 200 and resp.text.strip():
            try:
                return _parse_contract(resp.text, url), resp.text, url
            except HarnessError:
                if given:
                    raise
    raise HarnessError(
        f"no contract found at {', '.join(urls)}: give one with --contract PATH|URL",
        kind="input",
    )


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, item in (doc.get("paths") or {}).items():
        for method in _METHODS:
            if isinstance(item, dict) and isinstance(item.get(method), dict):
                out.append((method.upper(), path, item[method]))
    return out


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        cur: Any = doc
        for part in ref[2:].split("/"):
            cur = cur.get(part, {}) if isinstance(cur, dict) else {}
        node = cur
    return node


def _json_schema(doc: dict[str, Any], holder: dict[str, Any]) -> dict[str, Any]:
    content = _resolve(doc, holder).get("content") or {}
    for media, body in content.items():
        if "json" in media and isinstance(body, dict):
            schema = _resolve(doc, body.get("schema") or {})
            return schema if isinstance(schema, dict) else {}
    return {}


def _simple_gets(doc: dict[str, Any]) -> list[str]:
    """GET operations that need no path or required parameter: safe reads to calibrate on."""
    out = []
    for method, path, op in _operations(doc):
        params = [_resolve(doc, p) for p in op.get("parameters") or []]
        if method == "GET" and "{" not in path and not any(p.get("required") for p in params):
            out.append(path)
    return out


def _creates(doc: dict[str, Any], login: str | None) -> list[str]:
    """POST operations on a path without parameters that take a JSON body (a create), the
    login aside: the writes ``--calibrate-writes`` sends twice; at most three."""
    out = []
    for method, path, op in _operations(doc):
        params = [_resolve(doc, p) for p in op.get("parameters") or []]
        if (
            method == "POST"
            and "{" not in path
            and f"POST {path}" != login
            and not any(p.get("required") for p in params)
            and _json_schema(doc, op.get("requestBody") or {})
        ):
            out.append(path)
    return out[:3]


def minimal_value(doc: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    """A small value the schema accepts: its example or default, else its first enum value,
    else the required fields only, each the least its type and limits allow."""
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict) or depth > 8:
        return None
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples") and isinstance(schema["examples"], list):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for combo in ("allOf", "oneOf", "anyOf"):
        options = [_resolve(doc, o) for o in schema.get(combo) or []]
        options = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if options and combo == "allOf":
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for o in options:
                merged["properties"].update(o.get("properties") or {})
                merged["required"] += o.get("required") or []
            return minimal_value(doc, merged, depth + 1)
        if options:
            return minimal_value(doc, options[0], depth + 1)
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {
            name: minimal_value(doc, props.get(name, {}), depth + 1)
            for name in schema.get("required") or []
        }
    if kind == "array":
        size = int(schema.get("minItems") or 0)
        return [minimal_value(doc, schema.get("items", {}), depth + 1) for _ in range(size)]
    if kind in _NUMBERS:
        low = float(schema.get("minimum", schema.get("exclusiveMinimum", 0)) or 0)
        value = low + 1 if "exclusiveMinimum" in schema and "minimum" not in schema else low
        value = max(value, 1.0) if float(schema.get("maximum", 2) or 0) >= 1 else value
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "string":
        formats = {
            "date-time": "2026-01-01T00:00:00Z",
            "date": "2026-01-01",
            "email": "parity@example.com",
            "uuid": "00000000-0000-4000-8000-000000000000",
            "uri": "https://example.com/parity",
        }
        text = formats.get(str(schema.get("format")), "parity calibration")
        low, high = int(schema.get("minLength") or 0), schema.get("maxLength")
        text = text.ljust(low, "x")
        return text[: int(high)] if high is not None else text
    return None


def _counter(a: Any, b: Any) -> bool:
    """Two writes' values of one sequence (an autoincrement id): the pair assigns them in
    step from one state, so they are compared, not noise."""
    return isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and 0 < b - a <= 2


def _credentials(auth: Auth | None, token: str, cookies: dict[str, str]) -> dict[str, Any]:
    """httpx arguments for an unsafe request: the role's credentials and, for a cookie
    session, the CSRF token from the cookie the login set."""
    placed = auth.place(token or None, cookies) if auth else {}
    if auth and auth.csrf_header and (auth.csrf_from or "").startswith("cookie:"):
        csrf = cookies.get((auth.csrf_from or "").removeprefix("cookie:"))
        if csrf is not None:
            placed.setdefault("headers", {})[auth.csrf_header] = csrf
    return placed


def calibrate_writes(
    client: httpx.Client,
    doc: dict[str, Any],
    auth: Auth | None,
    tokens: dict[str, tuple[tuple[str, dict[str, str]], tuple[str, dict[str, str]]]],
    sides: tuple[str, str],
) -> tuple[list[Rule], list[str], list[str]]:
    """``parity init --calibrate-writes``: each create sent twice to the legacy (and the same
    two to the candidate, so both keep the same rows), as the first role whose write the
    legacy takes; what differs between the legacy's two answers becomes a rule for that
    operation, with the two values as evidence. A counter (an id one more than the one
    before) is named but stays compared. ``tokens``: role -> (the legacy's token and
    cookies, the candidate's). Returns (rules, comment lines, notes)."""
    rules: list[Rule] = []
    comments: list[str] = []
    notes: list[str] = []
    legacy, candidate = sides
    nobody: tuple[str, dict[str, str]] = ("", {})
    who = list(tokens.items()) or [("anonymous", (nobody, nobody))]
    for path in _creates(doc, auth.login if auth else None):
        op_id = f"POST {path}"
        op = next(o for m, p, o in _operations(doc) if (m, p) == ("POST", path))
        body = minimal_value(doc, _json_schema(doc, op["requestBody"]))
        refused: list[str] = []  # why each role's write taught nothing
        for role, (mine, theirs) in who:
            try:
                placed = _credentials(auth, *mine)
                answers = [client.post(legacy + path, json=body, **placed) for _ in range(2)]
                placed = _credentials(auth, *theirs)
                for _ in range(2):  # the same rows on the candidate: the pair stays in step
                    client.post(candidate + path, json=body, **placed)
            except httpx.HTTPError as exc:
                refused.append(f"{role}: {exc}")
                break
            finally:
                client.cookies.clear()
            if not all(a.is_success for a in answers):
                refused.append(f"{role}: {answers[0].status_code}")
                continue
            try:
                first, second = answers[0].json(), answers[1].json()
            except ValueError:
                refused.append(f"{role}: not JSON")
                break
            where = f"{op_id} (a write sent twice to the legacy as {role})"
            samples = _aa(where, first, second)
            proposed = propose_rules([x for x in samples if not _counter(x[2], x[3])])
            for rule in proposed:
                rule.operation = op_id
            rules += proposed
            for _, place, a, b in samples:
                if not _counter(a, b):
                    continue
                comments += [
                    f"# {where}: {place} {a} then {b}, a counter: both sides assign it in",
                    "# step from one state, so it stays compared; if the candidate's",
                    "# sequence starts elsewhere, accept it for this operation:",
                    "# [[normalize]]",
                    f"# operation = {_toml(op_id)}",
                    f"# location = {_toml('body:' + _leaf(generalize(place)))}",
                    '# action = "ignore"',
                    '# reason = "each side numbers new rows from its own sequence"',
                ]
            refused = []
            break
        if refused:
            notes.append(f"{op_id}: writes not calibrated ({', '.join(refused)})")
    return rules, comments, notes


def candidate_contract(
    client: httpx.Client, candidate: str, legacy_doc: dict[str, Any]
) -> tuple[str, int] | None:
    """Where the candidate publishes its own OpenAPI (the usual places), and how many
    changes from the legacy's parity's static check sees now; None if it publishes none."""
    for place in CONTRACT_PLACES:
        resp = _get(client, candidate + place)
        if resp is None or not resp.is_success:
            continue
        try:
            doc = _parse_contract(resp.text, candidate + place)
        except HarnessError:
            continue
        if isinstance(doc.get("paths"), dict):
            return place, len(diff_contracts(legacy_doc, doc))
    return None


def find_base_path(client: httpx.Client, doc: dict[str, Any], legacy: str) -> tuple[str, str]:
    """(base path, evidence): the servers path if a parameterless GET answers under it, else
    the first of "", "/api", "/v1" that does (a 404 everywhere keeps the servers path)."""
    servers = doc.get("servers") or []
    declared = urlsplit(str(servers[0].get("url", ""))).path.rstrip("/") if servers else ""
    probes = _simple_gets(doc)[:3] or ["/"]
    root = legacy.rstrip("/")
    for prefix in dict.fromkeys([declared, "", "/api", "/v1"]):
        for path in probes:
            resp = _get(client, root + prefix + path)
            if resp is not None and resp.status_code != 404:
                return prefix, (
                    f"GET {prefix}{path} answered {resp.status_code} on the legacy"
                    + (f"; servers say {declared!r}" if servers else "")
                )
    return declared, "no prefix answered; the contract's servers path is kept"


@dataclass
class Auth:
    login: str | None  # None: no login operation, each role sends a fixed token
    token_path: str
    header: str
    prefix: str
    evidence: list[str]
    identifier: str
    secret: str
    token_in: str = "header"  # "header" | "query" | "cookie"
    name: str | None = None  # the query parameter or session cookie
    csrf_header: str | None = None
    csrf_from: str | None = None  # learnt from a real login answer
    expires_path: str | None = None

    def place(self, token: str | None, cookies: dict[str, str]) -> dict[str, Any]:
        """httpx arguments that send a logged-in role's credentials."""
        if token is None:
            return {}
        if self.token_in == "query":
            return {"params": {self.name or "api_key": token}}
        if self.token_in == "cookie":
            return {"headers": {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}}
        return {"headers": {self.header: self.prefix + token}}


def find_auth(doc: dict[str, Any]) -> Auth | None:
    """The scheme from securitySchemes and the login operation (a POST whose body has a
    password-like field and whose 2xx answer carries a token-like field)."""
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    header, prefix, evidence = "Authorization", "Bearer ", []
    token_in, token_name, csrf_header = "header", None, None
    scheme_found = False
    for name, raw in schemes.items():
        scheme = _resolve(doc, raw)
        named = str(scheme.get("name", ""))
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header" and _CSRF.search(named):
            csrf_header = named
            evidence.append(f"securitySchemes.{name}: CSRF token in header {csrf_header!r}")
    for name, raw in schemes.items():
        scheme = _resolve(doc, raw)
        kind = scheme.get("type")
        where = scheme.get("in")
        if kind == "apiKey" and _CSRF.search(str(scheme.get("name", ""))):
            continue
        if kind == "apiKey" and where == "header":
            header, prefix = scheme.get("name", "X-API-Key"), ""
        elif kind == "apiKey" and where in ("query", "cookie"):
            token_in, token_name, prefix = str(where), str(scheme.get("name", "")), ""
            evidence.append(f"securitySchemes.{name}: apiKey in {where} {token_name!r}")
            scheme_found = True
            break
        elif kind == "http":
            word = str(scheme.get("scheme", "bearer"))
            prefix = "Bearer " if word.lower() == "bearer" else f"{word.capitalize()} "
        elif kind == "oauth2" or kind == "openIdConnect":
            prefix = "Bearer "
        else:
            evidence.append(f"securitySchemes.{name} ({kind} in {scheme.get('in')}) unsupported")
            continue
        evidence.append(f"securitySchemes.{name}: {kind}, header {header!r}, prefix {prefix!r}")
        scheme_found = True
        break
    best: tuple[int, Auth] | None = None
    for method, path, op in _operations(doc):
        if method != "POST":
            continue
        body = _json_schema(doc, op.get("requestBody") or {})
        props = body.get("properties") or {}
        secrets = [p for p in props if _SECRET.search(p)]
        if not secrets:
            continue
        others = [p for p in props if p not in secrets]
        for status, resp in (op.get("responses") or {}).items():
            if not str(status).startswith("2"):
                continue
            out = _json_schema(doc, resp)
            fields = out.get("properties") or {}
            tokens = [p for p in fields if _TOKEN.search(p)]
            if token_in == "cookie":  # the session is the cookie the login sets
                sets = any(h.lower() == "set-cookie" for h in (resp.get("headers") or {}))
                tokens = [f"Set-Cookie {token_name}"] if sets or _LOGIN.search(path) else []
            if not tokens or not others:
                continue
            expires = [
                p for p in fields if _EXPIRES.search(p) and fields[p].get("type") in _NUMBERS
            ]
            score = (2 if _LOGIN.search(path) else 0) + (1 if op.get("security") == [] else 0)
            auth = Auth(
                login=f"POST {path}",
                token_path="$.token" if token_in == "cookie" else f"$.{tokens[0]}",
                header=header,
                prefix=prefix,
                evidence=[
                    *evidence,
                    f"POST {path}: body has {secrets[0]!r}, its {status} answer has {tokens[0]!r}"
                    + (f" and {expires[0]!r} (seconds the token lives)" if expires else ""),
                ],
                identifier=next((p for p in others if p in body.get("required", [])), others[0]),
                secret=secrets[0],
                token_in=token_in,
                name=token_name,
                csrf_header=csrf_header,
                expires_path=f"$.{expires[0]}" if expires else None,
            )
            if best is None or score > best[0]:
                best = (score, auth)
    if best is None and scheme_found:  # a scheme but nothing to log in with: fixed tokens
        return Auth(
            login=None,
            token_path="$.token",
            header=header,
            prefix=prefix,
            evidence=[
                *evidence,
                "no login operation (a POST taking a password and answering a "
                "token): each role sends a fixed token from the environment",
            ],
            identifier="",
            secret="",
            token_in=token_in,
            name=token_name,
            csrf_header=csrf_header,
        )
    return best[1] if best else None


def fixed_roles_from_env(env: dict[str, str]) -> dict[str, str]:
    """``PARITY_TOKEN_<NAME>``: the role ``name``'s fixed token (roles named in lower case)."""
    return {
        key[len(TOKEN_ENV_PREFIX) :].lower(): value
        for key, value in sorted(env.items())
        if key.startswith(TOKEN_ENV_PREFIX) and value and len(key) > len(TOKEN_ENV_PREFIX)
    }


def roles_from_env(auth: Auth, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``PARITY_ROLE_<NAME>``: "user:password" for the login's two fields, or a JSON body."""
    roles = {}
    for key, value in sorted(env.items()):
        if not key.startswith(ROLE_ENV_PREFIX) or not value:
            continue
        name = key[len(ROLE_ENV_PREFIX) :].lower()
        if value.lstrip().startswith("{"):
            roles[name] = json.loads(value)
        else:
            user, _, password = value.partition(":")
            roles[name] = {auth.identifier: user, auth.secret: password}
    return roles


def _login(
    client: httpx.Client, base: str, auth: Auth, body: dict[str, Any]
) -> tuple[str | None, dict[str, str], str]:
    """(token, the cookies the login set, why not). A cookie session's CSRF token is found
    here, in a real answer: a cookie, a header or a body field named like one."""
    if auth.login is None:
        return None, {}, "no login operation"
    path = auth.login.split(" ", 1)[1]
    try:
        resp = client.post(base + path, json=body)
    except httpx.HTTPError as exc:
        return None, {}, f"{base}: {exc}"
    client.cookies.clear()  # credentials go only where [auth] says
    if not resp.is_success:
        return None, {}, f"{auth.login} answered {resp.status_code}"
    cookies = {c.name: c.value or "" for c in resp.cookies.jar}
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    if auth.csrf_header and auth.csrf_from is None:
        found = [
            *(f"cookie:{k}" for k in cookies if _CSRF.search(k)),
            *(f"header:{k}" for k in resp.headers if _CSRF.search(k)),
            *(f"$.{k}" for k in answer if _CSRF.search(k)),
        ]
        auth.csrf_from = found[0] if found else None
    if auth.token_in == "cookie":
        token = cookies.get(auth.name or "")
        if token is None:
            return None, cookies, f"{auth.login}: no cookie {auth.name!r} set"
        return token, cookies, ""
    token = answer.get(auth.token_path[2:])
    if not isinstance(token, str):
        return None, cookies, f"{auth.login}: no token at {auth.token_path}"
    return token, cookies, ""


def _aa(where: str, first: Any, second: Any) -> list[tuple[str, str, Any, Any]]:
    """Two answers of the legacy compared by the run's own comparison (no rules): what it
    would report between them is noise. An ordering is ``(where, path, "order", None)``."""
    out: list[tuple[str, str, Any, Any]] = []
    for d in compare_bodies(first, second, RuleSet([], where)):
        if d.kind == "ordering":
            out.append((where, d.location.removeprefix("body:"), "order", None))
        else:
            out.append((where, d.path, d.legacy, d.candidate))
    return out


@dataclass
class HeaderNoise:
    """Response headers seen on the legacy, and those two answers to one request disagreed
    on (with the evidence): every header is compared but those and transfer headers."""

    seen: set[str] = field(default_factory=set)
    noisy: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, first: httpx.Response, second: httpx.Response) -> None:
        for name in {k.lower() for k in (*first.headers.keys(), *second.headers.keys())}:
            if name in NOT_COMPARED:
                continue
            self.seen.add(name)
            a, b = first.headers.get_list(name), second.headers.get_list(name)
            if a != b and name not in self.noisy:
                self.noisy[name] = f"{where}: {json.dumps(a)[:40]} then {json.dumps(b)[:40]}"


@dataclass
class Rule:
    location: str
    action: str
    reason: str
    evidence: str
    extra: dict[str, Any] = field(default_factory=dict)
    operation: str | None = None  # a write's rule: only where it was seen


def _leaf(path: str) -> str:
    """``$.items[*].requestId`` -> ``$..requestId``: noise named by its field, at any depth."""
    match = re.search(r"\.([A-Za-z_][\w-]*)$", path)
    return f"$..{match.group(1)}" if match else path


_RANDOM = (
    ("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", None),
    ("[0-9a-f]{%d}", "hex"),
    ("[0-9A-Za-z_-]{%d}", "token"),
)


def _random_pattern(a: str, b: str) -> str | None:
    """A full-match pattern both random values fit (a uuid, hex or token of one length)."""
    if shape(a) == shape(b) and not re.search(r"[A-Za-z0-9]", a):
        return None
    for pattern, sized in _RANDOM:
        full = pattern % len(a) if sized else pattern
        if len(a) == len(b) and re.fullmatch(full, a) and re.fullmatch(full, b):
            return full
    return None


def propose_rules(samples: list[tuple[str, str, Any, Any]]) -> list[Rule]:
    """A rule per place that differed between two legacy answers, with the two values."""
    rules: dict[str, Rule] = {}
    for where, path, a, b in samples:
        if a == "order":
            loc = f"body:{generalize(path)}"
            rules.setdefault(
                loc, Rule(loc, "unordered", "the legacy lists these in varying order", where)
            )
            continue
        loc = f"body:{_leaf(generalize(path))}"
        if loc in rules:
            continue
        ev = f"{where} {path}: {json.dumps(a)[:60]} then {json.dumps(b)[:60]}"
        if isinstance(a, str) and isinstance(b, str) and parse_time(a) and parse_time(b):
            rules[loc] = Rule(loc, "tolerance", "stamped from the clock", ev, {"ms": 5000})
        elif isinstance(a, str) and isinstance(b, str) and (pattern := _random_pattern(a, b)):
            rules[loc] = Rule(
                loc,
                "mask",
                "random per answer (its format must still agree)",
                ev,
                {"pattern": pattern},
            )
        else:
            rules[loc] = Rule(loc, "ignore", "differs between two legacy answers", ev)
    return list(rules.values())


def time_fields(doc: dict[str, Any]) -> list[str]:
    """Fields the contract types as date-time: each side stamps them from its own clock."""
    names: set[str] = set()

    def walk(node: Any, depth: int = 0) -> None:
        node = _resolve(doc, node)
        if depth > 12:
            return
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                sub = _resolve(doc, sub)
                if isinstance(sub, dict) and sub.get("format") == "date-time":
                    names.add(key)
                walk(sub, depth + 1)
            for key in ("items", "allOf", "anyOf", "oneOf"):
                value = node.get(key)
                for sub in value if isinstance(value, list) else [value]:
                    if sub is not None:
                        walk(sub, depth + 1)

    for _, _, op in _operations(doc):
        for resp in (op.get("responses") or {}).values():
            walk(_json_schema(doc, resp))
    return sorted(names)


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def check_databases(legacy_db: str | None, candidate_db: str | None) -> dict[str, str]:
    """Both databases or neither; a SQLite path must be a SQLite file (PostgreSQL URLs are
    checked by the run, which connects as it installs its triggers)."""
    given = {k: v for k, v in (("legacy", legacy_db), ("candidate", candidate_db)) if v}
    if len(given) == 1:
        missing = "candidate" if "legacy" in given else "legacy"
        raise HarnessError(
            f"--{missing}-db is missing: a write diff needs both sides' databases",
            kind="input",
        )
    out = {}
    for side, value in given.items():
        if value.split("://")[0].lower().startswith("postgres"):
            out[side] = value
            continue
        path = Path(value.partition("sqlite:///")[2] or value)
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise HarnessError(
                f"--{side}-db {value}: not a SQLite database ({exc}); give the file the "
                f"{side} service writes, or a postgresql:// URL",
                kind="input",
            ) from exc
        out[side] = str(path.resolve())
    return out


def sqlite_tables(path: str) -> dict[str, list[tuple[str, list[Any]]]]:
    """table -> [(column, a few of its values)] of a SQLite file, read-only."""
    out: dict[str, list[tuple[str, list[Any]]]] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in names:
            cur = conn.execute(f'SELECT * FROM "{table}" LIMIT 20')
            rows = cur.fetchall()
            cols = [d[0] for d in cur.description]
            out[table] = [(c, [r[i] for r in rows]) for i, c in enumerate(cols)]
    return out


def database_rules(databases: dict[str, str], names: list[str]) -> tuple[list[Rule], list[str]]:
    """Time columns (by their values, or named as a contract date-time field) get a
    tolerance within the request that wrote them; tables only one side has are named."""
    rules: list[Rule] = []
    comments: list[str] = []
    schemas = {
        side: sqlite_tables(path)
        for side, path in databases.items()
        if not path.split("://")[0].lower().startswith("postgres")
    }
    legacy = schemas.get("legacy", {})
    wanted = {_camel_to_snake(n) for n in names} | set(names)
    for table, columns in legacy.items():
        for column, values in columns:
            seen = [v for v in values if v is not None]
            stamped = bool(seen) and all(
                isinstance(v, str) and len(v) > 10 and parse_time(v) for v in seen
            )  # date-times: a date is not stamped from a clock
            if not (stamped or column in wanted):
                continue
            why = (
                f"{table}.{column} holds times ({json.dumps(seen[0])[:40]})"
                if stamped
                else f"the contract types {column!r} as date-time"
            )
            rules.append(
                Rule(
                    f"db:{table}.{column}",
                    "tolerance",
                    "a time each side stamps from its own clock, during the request",
                    why,
                    {"ms": 5000},
                )
            )
    if "candidate" in schemas:
        ours, theirs = set(legacy), set(schemas["candidate"])
        if ours != theirs:
            comments.append(
                "# tables only the legacy has: "
                + (", ".join(sorted(ours - theirs)) or "none")
                + "; only the candidate: "
                + (", ".join(sorted(theirs - ours)) or "none")
                + ". parity compares a table only one side writes with an alike one the"
                " other side writes and reports the rename (db_table); if it is intended, say"
                ' so: [[db.map]] legacy = "..." candidate = "..."'
            )
    return rules, comments


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def init_config(
    legacy: str,
    candidate: str,
    *,
    contract: str | None = None,
    out: Path = Path("parity.toml"),
    env: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    legacy_db: str | None = None,
    candidate_db: str | None = None,
    writes: bool = False,
) -> InitResult:
    """Find the contract, base path, auth, roles and noise; write ``out`` and its contract.
    With both databases, writes are compared too (their time columns get a tolerance).
    ``writes`` (``--calibrate-writes``): also send each create twice (:func:`calibrate_writes`:
    it adds rows to both services)."""
    env = dict(os.environ if env is None else env)
    databases = check_databases(legacy_db, candidate_db)
    notes: list[str] = []
    legacy, candidate = legacy.rstrip("/"), candidate.rstrip("/")
    with httpx.Client(timeout=timeout_s) as client:
        for side, url in (("legacy", legacy), ("candidate", candidate)):
            try:
                client.get(url + "/")
            except httpx.HTTPError as exc:
                raise HarnessError(f"{side} at {url} does not answer: {exc}", kind="input") from exc
        doc, text, source = find_contract(client, legacy, contract)
        out.parent.mkdir(parents=True, exist_ok=True)
        suffix = ".json" if text.lstrip().startswith("{") else ".yaml"
        contract_file = out.with_name(out.stem + ".openapi" + suffix)
        contract_file.write_text(text)
        base, base_ev = find_base_path(client, doc, legacy)
        published = candidate_contract(client, candidate, doc)
        auth = find_auth(doc)
        roles: dict[str, dict[str, Any]] = {}
        fixed_names: list[str] = []  # no login operation: roles with a fixed token
        tokens: dict[str, tuple[str, dict[str, str]]] = {}
        candidate_tokens: dict[str, tuple[str, dict[str, str]]] = {}  # a login's are its own
        if auth is not None:
            notes += [
                f"{e}: set [auth] token_in and header or name by hand"
                for e in auth.evidence
                if "unsupported" in e
            ]
            if auth.login is None:
                fixed = fixed_roles_from_env(env)
                if not fixed:
                    notes.append(
                        "no login operation and no fixed tokens: set "
                        f"{TOKEN_ENV_PREFIX}<NAME>=<token> per role before parity run (the "
                        "file names a role `user` reading $PARITY_TOKEN_USER)"
                    )
                    fixed_names = ["user"]
                else:
                    fixed_names = list(fixed)
                for name, value in fixed.items():
                    cookie = {auth.name: value} if auth.token_in == "cookie" and auth.name else {}
                    tokens[name] = (value, cookie)
            else:
                roles = roles_from_env(auth, env)
            if auth.login is not None and not roles:
                notes.append(
                    f"no roles: set {ROLE_ENV_PREFIX}<NAME>='user:password' per role and run "
                    "parity init again"
                )
            for name, body in roles.items():
                for side, url in (("legacy", legacy), ("candidate", candidate)):
                    token, cookies, why = _login(client, url + base, auth, body)
                    if token is None:
                        notes.append(f"role {name} does not log in on the {side}: {why}")
                    elif side == "legacy":
                        tokens[name] = (token, cookies)
                    else:
                        candidate_tokens[name] = (token, cookies)
            if auth.csrf_header and roles and auth.csrf_from is None:
                notes.append(
                    f"no CSRF token ({auth.csrf_header}) in the login answer: set [auth] "
                    "csrf_from by hand"
                )
        samples: list[tuple[str, str, Any, Any]] = []
        seen_headers = HeaderNoise()
        token, cookies = next(iter(tokens.values()), (None, {}))
        placed = auth.place(token, cookies) if auth else {}
        reads = _simple_gets(doc)
        for path in reads:
            first = _get(client, legacy + base + path, **placed)
            second = _get(client, legacy + base + path, **placed)
            if first is None or second is None:
                continue
            seen_headers.add(f"GET {path}", first, second)
            try:
                a, b = first.json(), second.json()
            except ValueError:
                continue
            samples += _aa(f"GET {path}", a, b)
        if auth is not None and auth.login is not None and roles:
            body = next(iter(roles.values()))
            path = auth.login.split(" ", 1)[1]
            try:
                pair = [client.post(legacy + base + path, json=body) for _ in range(2)]
                client.cookies.clear()
                seen_headers.add(auth.login, pair[0], pair[1])
                samples += _aa(auth.login, pair[0].json(), pair[1].json())
            except (httpx.HTTPError, ValueError):
                pass
        write_rules: list[Rule] = []
        write_comments: list[str] = []
        if writes:
            theirs = candidate_tokens if auth is not None and auth.login else tokens
            write_rules, write_comments, write_notes = calibrate_writes(
                client, doc, auth, {k: (v, theirs.get(k, v)) for k, v in tokens.items()},
                (legacy + base, candidate + base),
            )  # fmt: skip
            notes += write_notes
    rules = propose_rules(samples)
    seen = {r.location for r in rules}
    for name in time_fields(doc):
        loc = f"body:$..{name}"
        if loc not in seen:
            rules.append(
                Rule(
                    loc,
                    "tolerance",
                    "a time each side stamps from its own clock",
                    f"the contract types {name!r} as date-time",
                    {"ms": 5000},
                )
            )
    for rule in rules:
        if rule.action == "tolerance":
            # URL mode: rows seeded through each side's API were stamped at other moments
            # than any request of the run, so the request window cannot hold them.
            rule.extra["request_window"] = False
    db_rules, db_comments = database_rules(databases, time_fields(doc)) if databases else ([], [])
    rules += db_rules
    # a write's rule where no rule of every operation covers the place already
    everywhere = {r.location for r in rules}
    rules += [r for r in write_rules if r.location not in everywhere]
    write_comments += [
        f"# {r.evidence}: the rule of every operation at {r.location} below covers it"
        for r in write_rules
        if r.location in everywhere
    ]
    # set-cookie is compared by names and attributes, never values: noisy values do not matter
    noisy = sorted(set(seen_headers.noisy) - {"set-cookie"})
    lines = [
        "#:schema ./parity.schema.json",
        "# generated by `parity init`",
        f"# legacy {legacy}, candidate {candidate}; contract from {source}",
        f"contract = {_toml(contract_file.name)}",
        f"base_path = {_toml(base)}  # {base_ev}",
    ]
    if published is not None:
        place, changes = published
        lines += [
            "# the candidate publishes its own contract: compared with the legacy's before any",
            f"# request (static contract drift; {changes} change(s) when this file was written)",
            f"candidate_contract = {_toml(place)}",
        ]
    lines += [
        "",
    ]
    if auth is not None:
        lines += ["[auth]", *(f"# {e}" for e in auth.evidence)]
        if auth.login is not None:
            lines += [
                f"login = {_toml(auth.login)}",
                f"token_path = {_toml(auth.token_path)}",
            ]
        lines += [
            f"header = {_toml(auth.header)}",
            f"prefix = {_toml(auth.prefix)}",
        ]
        strip = {"authorization", auth.header.lower()}
        if auth.token_in != "header":
            lines += [f"token_in = {_toml(auth.token_in)}", f"name = {_toml(auth.name)}"]
        if auth.csrf_header:
            strip.add(auth.csrf_header.lower())
            lines.append(f"csrf_header = {_toml(auth.csrf_header)}")
        if auth.csrf_from:
            lines.append(f"csrf_from = {_toml(auth.csrf_from)}")
        if auth.expires_path:
            lines.append(f"expires_path = {_toml(auth.expires_path)}")
        lines += [f"strip_headers = {_toml(sorted(strip))}", ""]
        for name, body in roles.items():
            lines += [
                f"# from ${ROLE_ENV_PREFIX}{name.upper()}",
                f"[auth.roles.{name}]",
                f"body = {_toml(body)}",
                "",
            ]
        for name in fixed_names:
            variable = token_variable(name)
            lines += [
                f"# a fixed token, sent as is and never renewed: export {variable}=<token>",
                "# before `parity run` (parity doctor says when it is missing or refused)",
                f"[auth.roles.{name}]",
                f"token_env = {_toml(variable)}",
                "",
            ]
    lines += [
        "[compare]",
        "# every header either side answers with, but date, server, transfer headers (the",
        "# default skip list) and those two answers to one request disagreed on:",
        *(f"# - {name}: {ev}" for name, ev in sorted(seen_headers.noisy.items())),
        'headers = ["*"]',
        *([f"skip_headers = {_toml([*DEFAULT_SKIP_HEADERS, *noisy])}"] if noisy else []),
        "",
    ]
    if writes:
        lines += [
            "# writes calibrated (--calibrate-writes): each create sent twice to the legacy",
            "# and to the candidate; what differed between the legacy's two answers:",
            *(write_comments or ["# nothing but what the rules below already cover"]),
            "",
        ]
    for rule in rules:
        lines += [
            f"# evidence: {rule.evidence}",
            "[[normalize]]",
            *([f"operation = {_toml(rule.operation)}"] if rule.operation else []),
            f"location = {_toml(rule.location)}",
            f"action = {_toml(rule.action)}",
            *(f"{k} = {_toml(v)}" for k, v in rule.extra.items()),
            f"reason = {_toml(rule.reason)}",
            "",
        ]
    if databases:
        lines += [
            "# URL mode with both databases: parity watches and compares each write, then",
            "# restores both databases",
            *db_comments,
            "[external]",
            f"databases = {_toml(databases)}",
            "",
        ]
    else:
        lines += [
            "# URL mode: no databases given, so write diffs and invariants are off; add",
            "# [external] databases = { legacy = ..., candidate = ... } (parity init",
            "# --legacy-db PATH --candidate-db PATH) to compare writes.",
        ]
    lines += [
        "[profiles.dev]",
        "positive = 10",
        "negative = 5",
        "shrink = false",
        "invariants = false",
        "",
    ]
    text_out = "\n".join(lines)
    out.write_text(text_out)
    from harness.setup.config import ParityConfig
    from harness.setup.schema import json_schema

    out.with_name("parity.schema.json").write_text(json_schema(ParityConfig))
    return InitResult(out, text_out, notes)


def main(args: argparse.Namespace) -> int:
    """The ``parity init`` subcommand: write the file, print what to fix and what to run."""
    result = init_config(
        args.legacy,
        args.candidate,
        contract=args.contract,
        out=Path(args.out),
        legacy_db=args.legacy_db,
        candidate_db=args.candidate_db,
        writes=args.calibrate_writes,
    )
    for note in result.notes:
        print(f"parity init: {note}", file=sys.stderr)
    print(f"wrote {result.config_path}")
    print(
        "next: parity run --config "
        f"{result.config_path} --legacy-url {args.legacy} --candidate-url {args.candidate}"
    )
    return 0
