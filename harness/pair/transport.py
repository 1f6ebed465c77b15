"""Send one prepared request to both targets at once over keep-alive httpx clients."""

from __future__ import annotations

import functools
import json
import re
import shlex
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from harness.models import PreparedRequest, Response
from harness.setup.config import AuthScheme
from harness.setup.signing import Signer

__all__ = [
    "Target",
    "TargetUnreachable",
    "Transport",
    "curl_line",
    "parse_body",
    "shell_bytes",
    "tls",
]


@functools.lru_cache(maxsize=1)
def tls() -> ssl.SSLContext:
    """One TLS context for every HTTP client of a run: httpx builds a new one per client by
    default, loading the CA bundle each time (about 90 ms of CPU, four or more per run)."""
    return httpx.create_ssl_context()


_CONNECTION_ERRORS = (
    httpx.ConnectError,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class TargetUnreachable(Exception):
    def __init__(self, target: str, detail: str):
        super().__init__(f"{target}: {detail}")
        self.target = target
        self.detail = detail


@dataclass
class Target:
    """One side of the pair as the transport sees it."""

    key: str  # "legacy" | "candidate"
    base_url: str
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token
    cookies: dict[str, str] = field(default_factory=dict)  # role -> its session's Cookie line
    csrf: dict[str, str] = field(default_factory=dict)  # role -> CSRF token for unsafe requests
    expires: dict[str, float] = field(default_factory=dict)  # role -> monotonic renew-by time


def parse_body(content: bytes, content_type: str | None) -> tuple[Any, str]:
    text = content.decode("utf-8", "replace")
    if not content:
        return None, ""
    try:
        return orjson.loads(content), text
    except orjson.JSONDecodeError:
        pass
    if content_type and "json" in content_type:
        try:
            return json.loads(text), text
        except ValueError:
            return text, text
    return text, text


class Transport:
    def __init__(
        self,
        legacy: Target,
        candidate: Target,
        *,
        timeout_s: float,
        auth_header: str = "Authorization",
        auth_prefix: str = "Bearer ",
        token_in: str = "header",
        token_name: str | None = None,
        csrf_header: str | None = None,
        extra: tuple[Target, ...] = (),
        mounts: dict[str, httpx.BaseTransport] | None = None,
        signer: Signer | None = None,
        retries: dict[str, int] | None = None,
        schemes: Callable[[str | None], AuthScheme] | None = None,
    ) -> None:
        self.signer = signer  # [auth.signing]: signs the bytes as sent
        self.legacy = legacy
        self.candidate = candidate
        self.all = {t.key: t for t in (legacy, candidate, *extra)}
        self.auth_header = auth_header
        self.auth_prefix = auth_prefix
        self.token_in = token_in  # "header" | "query" | "cookie"
        self.token_name = token_name  # the query parameter (token_in = query)
        self.csrf_header = csrf_header
        default = AuthScheme(
            header=auth_header,
            prefix=auth_prefix,
            token_in=token_in,
            name=token_name,
            csrf_header=csrf_header,
        )
        # a role's effective scheme ([auth] under its [auth.roles.<name>] keys); the
        # arguments above are the scheme of every role when none is given
        self.scheme: Callable[[str | None], AuthScheme] = schemes or (lambda _role: default)
        self.timeout_s = timeout_s
        # requests re-sent on a fresh connection after a dropped one, per target key (a
        # dict shared with the pair: every transport of a run counts into it)
        self.retries: dict[str, int] = {} if retries is None else retries
        self.mounts = mounts or {}  # target key -> an httpx transport (tests: MockTransport)
        self._limits = httpx.Limits(max_keepalive_connections=4, max_connections=8)
        self._clients = {t.key: self._client(t, self._limits) for t in self.all.values()}
        self._pool = ThreadPoolExecutor(max_workers=len(self.all), thread_name_prefix="parity-send")

    def _client(self, target: Target, limits: httpx.Limits) -> httpx.Client:
        return httpx.Client(
            base_url=target.base_url,
            timeout=self.timeout_s,
            limits=limits,
            follow_redirects=False,
            transport=self.mounts.get(target.key),
            verify=tls(),
        )

    def reconnect(self, keys: list[str]) -> None:
        """Fresh connections to these targets (their processes were restarted)."""
        for key in keys:
            old = self._clients[key]
            self._clients[key] = self._client(self.all[key], self._limits)
            old.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self._clients.values():
            client.close()

    def headers_for(self, target: Target, req: PreparedRequest) -> list[tuple[str, str]]:
        headers = list(req.headers)
        if req.role is not None:
            scheme = self.scheme(req.role)
            token = target.tokens.get(req.role)
            if token is not None and scheme.token_in == "header":
                headers.append((scheme.header, scheme.prefix + token))
            cookie = target.cookies.get(req.role)
            if cookie is not None and scheme.token_in == "cookie":
                headers = [(k, v) for k, v in headers if k.lower() != "cookie"] + [
                    ("Cookie", cookie)
                ]
            csrf = target.csrf.get(req.role)
            if csrf is not None and scheme.csrf_header and req.method not in _SAFE_METHODS:
                name = scheme.csrf_header.lower()
                headers = [(k, v) for k, v in headers if k.lower() != name]
                headers.append((scheme.csrf_header, csrf))
        signs = req.mode != "unsigned"  # a signing probe: the request goes out unsigned
        if signs and self.signer is not None and self.signer.applies(req.operation):
            name = self.signer.config.signature_header.lower()
            if not any(k.lower() == name for k, _ in headers):  # a case may sign on its own
                headers += self.signer.headers(req.method, req.path, req.content)
        return headers

    def send(self, target: Target, req: PreparedRequest) -> Response:
        client = self._clients[target.key]
        # no cookie jar: a Set-Cookie from a login must not authenticate later requests
        # (anonymous cases would go out with the session cookie)
        client.cookies.clear()
        started = time.perf_counter()
        sent_at = time.time()  # the request window on the wall clock the services stamp with
        query = list(req.query)
        scheme = self.scheme(req.role) if req.role is not None else None
        if scheme is not None and scheme.token_in == "query" and scheme.name:
            token = target.tokens.get(req.role or "")
            if token is not None:
                query = [(k, v) for k, v in query if k != scheme.name]
                query.append((scheme.name, token))
        kwargs: dict[str, Any] = {
            "params": query or None,
            "headers": self.headers_for(target, req),
            "content": req.content,
        }
        try:
            try:
                resp = client.request(req.method, req.path, **kwargs)
            except _CONNECTION_ERRORS:
                # a server may close its keep-alive connection after an error (uvicorn does
                # after a 500, without "Connection: close"): retry once on a fresh connection
                self.retries[target.key] = self.retries.get(target.key, 0) + 1
                started = time.perf_counter()
                with self._client(target, httpx.Limits(max_keepalive_connections=0)) as fresh:
                    resp = fresh.request(req.method, req.path, **kwargs)
        except httpx.TimeoutException as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return Response(
                0,
                (),
                None,
                "",
                elapsed,
                error=f"timeout: {type(exc).__name__}",
                window=(sent_at, time.time()),
            )
        except _CONNECTION_ERRORS as exc:
            raise TargetUnreachable(target.key, f"{type(exc).__name__}: {exc}") from exc
        elapsed = (time.perf_counter() - started) * 1000
        # each target has its own origin: an absolute Location names it; compare the rest
        origin = target.base_url
        headers = tuple(
            (k.lower(), v.replace(origin, "{origin}") if origin in v else v)
            for k, v in resp.headers.multi_items()
        )
        body, text = parse_body(resp.content, resp.headers.get("content-type"))
        return Response(
            resp.status_code, headers, body, text, elapsed, window=(sent_at, time.time())
        )

    def send_pair(
        self, req: PreparedRequest, candidate_req: PreparedRequest | None = None
    ) -> tuple[Response, Response]:
        """Both at once: the candidate in a worker thread, the legacy on this one."""
        future = self._pool.submit(self.send, self.candidate, candidate_req or req)
        try:
            legacy = self.send(self.legacy, req)
        finally:
            candidate = future.result()
        return legacy, candidate

    def send_one(self, key: str, req: PreparedRequest) -> Response:
        return self.send(self.all[key], req)

    def send_with(
        self, key: str, req: PreparedRequest, candidate_req: PreparedRequest | None = None
    ) -> tuple[Response, Response, Response]:
        """The pair plus one more target (the A/A twin of the legacy), all at once."""
        future = self._pool.submit(self.send, self.all[key], req)
        try:
            legacy, candidate = self.send_pair(req, candidate_req)
        finally:
            third = future.result()
        return legacy, candidate, third


def curl_line(
    base_url: str,
    req: PreparedRequest,
    *,
    auth_header: str = "Authorization",
    auth_prefix: str = "Bearer ",
    token_var: str = "TOKEN",
    url_var: str | None = None,
    scheme: AuthScheme | None = None,
) -> str:
    """A shell line that replays ``req`` as-is; a role's token is ``$<SIDE>_TOKEN_<ROLE>``
    (each side has its own), sent where the role's ``scheme`` puts it (a header with its
    prefix, the query parameter, or the session cookie; default: ``auth_header`` and
    ``auth_prefix``). ``url_var``: the base URL is that shell variable
    (``"${LEGACY_URL}"``), not ``base_url``."""
    if scheme is None:
        scheme = AuthScheme(header=auth_header, prefix=auth_prefix)
    var = ""
    if req.role is not None:
        var = f"{token_var}_{re.sub(r'[^A-Za-z0-9]', '_', req.role).upper()}"
    params = list(req.query) if req.query else None
    query_token = req.role is not None and scheme.token_in == "query" and bool(scheme.name)
    if query_token:  # the token's value is the shell's: added after the quoted URL
        params = [(k, v) for k, v in params or [] if k != scheme.name] or None
    if url_var is None:
        parts = [
            "curl",
            "-sS",
            "-i",
            "-X",
            req.method,
            str(httpx.URL(base_url + req.path, params=params)),
        ]
        where = ""
    else:
        rel = httpx.URL("http://parity.invalid" + req.path, params=params).raw_path.decode()
        parts = ["curl", "-sS", "-i", "-X", req.method]
        where = f' "${{{url_var}}}"' + shlex.quote(rel)
    head: list[str] = []
    for key, value in req.headers:
        head += ["-H", f"{key}: {value}"]
    line = shlex.join(parts) + where + (" " + shlex.join(head) if head else "")
    if req.role is not None and scheme.token_in == "header":
        line += " -H " + shlex.quote(f"{scheme.header}: {scheme.prefix}") + f'"${{{var}}}"'
    elif query_token:
        line += " --url-query " + shlex.quote(f"{scheme.name}=") + f'"${{{var}}}"'
    elif req.role is not None and scheme.token_in == "cookie":
        cookie = f"{scheme.name}=" if scheme.name else ""
        line += " -b " + shlex.quote(cookie) + f'"${{{var}}}"'

    if req.content:
        line += " --data-binary " + shell_bytes(req.content)
    return line


def shell_bytes(data: bytes) -> str:
    """``data`` as one shell word, byte for byte: plain quoting when that is exact, else
    bash's ``$'...'`` with escapes (multipart bodies carry CR LF, which copy and paste lose)."""
    text = data.decode("utf-8", "surrogateescape")
    if all(ch.isprintable() or ch == "\n" for ch in text):
        return shlex.quote(text)
    out = []
    for ch in text:
        if ch == "\\" or ch == "'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif "\udc80" <= ch <= "\udcff":  # an undecodable byte
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif not ch.isprintable():
            out.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"
