"""Draw requests from the contract with schemathesis strategies, reproducibly.

Cases are drawn up front with a seeded ``@given`` loop (generate phase only, no example
database), then encoded once with httpx so both targets get byte-identical requests.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode
from schemathesis.core.errors import SchemathesisError

from harness.cases.files import MAX_TEXT, csv_variants, filename_for, is_csv
from harness.models import NOT_SET, PreparedRequest
from harness.setup.contract import Operation

__all__ = [
    "ENCODING_ERRORS",
    "GENERATION_ERRORS",
    "GenerationStats",
    "build_request",
    "case_seed",
    "contract_examples",
    "generate_cases",
    "multipart_request",
    "rebuild",
]

_DROP_HEADERS = {"user-agent", "x-schemathesis-testcaseid", "connection", "accept-encoding"}
_BASE = "http://parity.invalid"


GENERATION_ERRORS: tuple[type[BaseException], ...] = (
    SchemathesisError,
    HypothesisException,
    ValueError,
    TypeError,
    KeyError,
    RecursionError,
)
"""What drawing a case can raise when the contract cannot give one; anything else is a bug in
parity and ends the run as a harness error."""

ENCODING_ERRORS: tuple[type[BaseException], ...] = (
    SchemathesisError,
    ValueError,
    TypeError,
    UnicodeError,
    AttributeError,  # httpx given a non-file value for a file part (a negative multipart case)
)
"""What encoding a drawn case into bytes can raise (the case is dropped and counted)."""


class GenerationStats:
    def __init__(self) -> None:
        self.drawn = 0
        self.duplicates = 0
        self.unencodable = 0
        # (operation, mode, exception type, message)
        self.errors: list[tuple[str, str, str, str]] = []

    def error(self, op_id: str, mode: str, exc: BaseException) -> None:
        self.errors.append((op_id, mode, type(exc).__name__, str(exc)[:300]))

    def merge(self, other: GenerationStats) -> None:
        self.drawn += other.drawn
        self.duplicates += other.duplicates
        self.unencodable += other.unencodable
        self.errors.extend(other.errors)


def case_seed(run_seed: int, op_id: str, mode: str) -> int:
    return zlib.crc32(f"{run_seed}:{op_id}:{mode}".encode()) & 0xFFFFFFFF


def _draw(op: Operation, mode: str, count: int, seed: int, stats: GenerationStats) -> list[Any]:
    if count <= 0:
        return []
    gen_mode = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    try:
        strategy = op.api.as_strategy(generation_mode=gen_mode)
    except GENERATION_ERRORS as exc:  # no strategy for this operation (e.g. nothing to negate)
        stats.error(op.id, mode, exc)
        return []
    out: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
    )
    @hyp_seed(seed)
    @given(strategy)
    def collect(case: Any) -> None:
        out.append(case)

    try:
        collect()
    except HypothesisException as exc:
        # Unsatisfiable: e.g. no parameter to make invalid; keep whatever was drawn
        if type(exc).__name__ != "Unsatisfiable":
            stats.error(op.id, mode, exc)
    except GENERATION_ERRORS as exc:
        stats.error(op.id, mode, exc)
    return out


def build_request(
    *,
    operation: str,
    method: str,
    path: str,
    query: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    headers: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    role: str | None,
    mode: str,
    json_body: Any = NOT_SET,
    raw_kwargs: dict[str, Any] | None = None,
) -> PreparedRequest:
    """Encode once; raises on what cannot be encoded (lone surrogates in multipart, ...)."""
    hdrs = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
    kwargs: dict[str, Any] = dict(raw_kwargs or {})
    body: Any = NOT_SET
    shrinkable = True
    media_type: str | None = None
    if json_body is not NOT_SET:
        kwargs = {"json": json_body}
    ctype = next((v for k, v in headers if k.lower() == "content-type"), None)
    if "files" in kwargs or (ctype and ctype.startswith("multipart/") and "content" not in kwargs):
        boundary = f"parity{zlib.crc32(repr(kwargs).encode()):08x}"
        hdrs.append(("Content-Type", f"multipart/form-data; boundary={boundary}"))
        parts = [_describe_part(p) for p in kwargs.get("files") or []]
        body = {"multipart": parts}
        if kwargs.get("data"):
            body["fields"] = kwargs["data"]
        # text file parts are kept whole in the record, so the shrinker can rebuild them
        shrinkable = bool(parts) and all(isinstance(p, dict) and "text" in p for p in parts)
    elif ctype:
        hdrs.append(("Content-Type", ctype))
    request = httpx.Request(method, _BASE + path, params=list(query), headers=hdrs, **kwargs)
    content = request.read() or None
    if "json" in kwargs:
        body = kwargs["json"]
        media_type = "application/json"
    elif "content" in kwargs:
        raw = kwargs["content"]
        body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        shrinkable = False
    elif "data" in kwargs and "files" not in kwargs and kwargs["data"] is not None:
        body = kwargs["data"]
        shrinkable = False
    out_headers = tuple(
        (k, v)
        for k, v in request.headers.multi_items()
        if k.lower() not in ("host", "content-length", *_DROP_HEADERS)
    )
    media_type = media_type or next(
        (v.split(";")[0] for k, v in out_headers if k.lower() == "content-type"), None
    )
    return PreparedRequest(
        operation=operation,
        method=method,
        path=request.url.raw_path.decode("ascii").split("?", 1)[0],
        query=tuple(request.url.params.multi_items()),
        headers=out_headers,
        content=content,
        body=body,
        media_type=media_type,
        role=role,
        mode=mode,
        shrinkable=shrinkable,
    )


def _describe_part(part: Any) -> Any:
    """A file part as a JSON-ready record; text up to ``MAX_TEXT`` is kept whole."""
    try:
        name, value = part
        if isinstance(value, tuple):
            filename, data = value[0], value[1]
            ctype = value[2] if len(value) > 2 else None
            size = len(data) if isinstance(data, bytes | str) else None
            out: dict[str, Any] = {"name": name, "filename": filename, "size": size}
            if ctype:
                out["contentType"] = ctype
            raw = data.encode("utf-8") if isinstance(data, str) else data
            if isinstance(raw, bytes) and len(raw) <= MAX_TEXT:
                with contextlib.suppress(UnicodeDecodeError):
                    out["text"] = raw.decode("utf-8")
            return out
        return {"name": name, "value": str(value)[:200]}
    except (TypeError, ValueError):
        return repr(part)[:200]


def multipart_request(
    req: PreparedRequest, parts: list[dict[str, Any]], fields: Any = None
) -> PreparedRequest:
    """``req`` re-encoded with other file parts (records as ``_describe_part`` writes them)."""
    files = [
        (
            p["name"],
            (p["filename"], p["text"].encode("utf-8"), p["contentType"])
            if p.get("contentType")
            else (p["filename"], p["text"].encode("utf-8")),
        )
        for p in parts
    ]
    raw: dict[str, Any] = {"files": files}
    if fields:
        raw["data"] = fields
    return rebuild(req, raw_kwargs=raw)


def rebuild(
    req: PreparedRequest, *, json_body: Any = NOT_SET, raw_kwargs: dict[str, Any] | None = None
) -> PreparedRequest:
    """``req`` with another body: same operation, path, query, headers, role and mode (and
    the places of values taken from the data, whatever the new body holds there)."""
    out = build_request(
        operation=req.operation,
        method=req.method,
        path=req.path,
        query=req.query,
        headers=req.headers,
        role=req.role,
        mode=req.mode,
        json_body=json_body,
        raw_kwargs=raw_kwargs,
    )
    return replace(out, data_values=req.data_values) if req.data_values else out


def _from_case(
    op: Operation,
    case: Any,
    *,
    role: str | None,
    mode: str,
    strip_headers: set[str],
    strip_cookies: bool,
) -> PreparedRequest:
    kw = case.as_transport_kwargs(base_url=_BASE)
    path_params = tuple((str(k), str(v)) for k, v in (case.path_parameters or {}).items())
    url = httpx.URL(kw.pop("url"))
    headers = [
        (k, str(v))
        for k, v in (kw.pop("headers", None) or {}).items()
        if k.lower() not in _DROP_HEADERS and k.lower() not in strip_headers
    ]
    cookies = kw.pop("cookies", None) or {}
    if cookies and not strip_cookies:
        headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
    params = kw.pop("params", None) or {}
    query: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        query.extend((str(key), _qs(v)) for v in values)
    kw.pop("method", None)
    kw = {k: v for k, v in kw.items() if v is not None}
    if "data" in kw and "files" not in kw and isinstance(kw["data"], bytes | str):
        raw = kw.pop("data")
        raw = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        first = raw.split(b"\r\n", 1)[0]
        if first.startswith(b"--") and (case.media_type or "").startswith("multipart/"):
            # schemathesis pre-encoded a multipart body with a random boundary: make it stable
            old = first[2:].rstrip(b"-")
            new = f"parity{zlib.crc32(raw.replace(old, b'')):08x}".encode()
            raw = raw.replace(old, new)
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
            headers.append(("Content-Type", f"multipart/form-data; boundary={new.decode()}"))
        kw["content"] = raw
    req = build_request(
        operation=op.id,
        method=op.method,
        path=url.raw_path.decode("ascii").split("?", 1)[0],
        query=query,
        headers=headers,
        role=role,
        mode=mode,
        raw_kwargs=kw,
    )
    return replace(req, path_params=path_params)


def _qs(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def generate_cases(
    op: Operation,
    *,
    run_seed: int,
    positive: int,
    negative: int,
    roles: list[str | None],
    strip_headers: list[str],
    strip_cookies: bool,
    stats: GenerationStats | None = None,
    on_case: Callable[[], None] | None = None,
    combined_files: int = 1,
) -> list[PreparedRequest]:
    """Positive then negative requests for ``op``, roles assigned in turn, duplicates dropped."""
    stats = stats or GenerationStats()
    strip = {h.lower() for h in strip_headers}
    seen: set[tuple[Any, ...]] = set()
    out: list[PreparedRequest] = []
    roles = roles or [None]
    for query, body, files in contract_examples(op, combined_files):
        for role in roles:  # scoping differs per role: every example as every role
            try:
                req = build_request(
                    operation=op.id,
                    method=op.method,
                    path=op.path,
                    query=query,
                    headers=(("accept", "*/*"),),
                    role=role,
                    mode="positive",
                    json_body=body,
                    raw_kwargs={"files": files} if files else None,
                )
            except ENCODING_ERRORS:
                stats.unencodable += 1
                continue
            if req.signature() not in seen:
                seen.add(req.signature())
                out.append(req)
    for mode, count in (("positive", positive), ("negative", negative)):
        cases = _draw(op, mode, count, case_seed(run_seed, op.id, mode), stats)
        stats.drawn += len(cases)
        for index, case in enumerate(cases):
            # for parameterless operations every draw is the same: still try each role once
            for role in _roles_for(index, len(cases), roles):
                try:
                    req = _from_case(
                        op,
                        case,
                        role=role,
                        mode=mode,
                        strip_headers=strip,
                        strip_cookies=strip_cookies,
                    )
                except ENCODING_ERRORS:
                    stats.unencodable += 1
                    continue
                sig = req.signature()
                if sig in seen:
                    stats.duplicates += 1
                    continue
                seen.add(sig)
                out.append(req)
    return out


def _examples(values: Any) -> list[Any]:
    if isinstance(values, list):
        return values
    if isinstance(values, dict):  # OpenAPI ``examples``: name -> {value: ...}
        return [v.get("value") for v in values.values() if isinstance(v, dict) and "value" in v]
    return []


Example = tuple[list[tuple[str, str]], Any, list[tuple[str, tuple[str, bytes, str]]] | None]
"""(query, JSON body or NOT_SET, multipart file parts or None)"""


def contract_examples(op: Operation, combined_files: int = 1) -> list[Example]:
    """The values the contract itself names, as requests: real data random strings never hit.

    Each example of a query parameter (``schema.examples`` or the parameter's ``examples``)
    becomes one request, with the required parameters at their first example; each example
    of an inline JSON request body becomes one request. Each example of a
    ``multipart/form-data`` body (an object of part name -> file text) becomes one request,
    and a CSV part (``encoding.<part>.contentType: text/csv``) also its variants
    (``harness.cases.files.csv_variants``): a spoiled cell among good rows, other line ends, a
    BOM, the header alone, and ``combined_files`` files putting the corners together.
    Operations with path parameters are left to generation (their ids come from the data).
    """
    api = op.api
    if api is None or list(getattr(api, "path_parameters", []) or []):
        return []
    params: list[tuple[str, bool, list[Any]]] = []
    for param in getattr(api, "query", []) or []:
        definition = getattr(param, "definition", {}) or {}
        schema = definition.get("schema") or {}
        values = _examples(schema.get("examples")) + _examples(definition.get("examples"))
        if "example" in definition:
            values.append(definition["example"])
        params.append((param.name, bool(definition.get("required")), values))
    base: list[tuple[str, str]] = []
    for name, required, values in params:
        if required:
            if not values:
                return []
            base.append((name, _qs(values[0])))
    out: list[Example] = []
    for name, _required, values in params:
        for value in values:
            query = [(k, v) for k, v in base if k != name] + [(name, _qs(value))]
            out.append((query, NOT_SET, None))
    raw = getattr(getattr(api, "definition", None), "raw", {}) or {}
    contents = (raw.get("requestBody") or {}).get("content") or {}
    content = contents.get("application/json") or {}
    for body in _examples((content.get("schema") or {}).get("examples")) + _examples(
        content.get("examples")
    ):
        out.append((list(base), body, None))
    multipart = contents.get("multipart/form-data") or {}
    encoding = multipart.get("encoding") or {}
    for example in _examples((multipart.get("schema") or {}).get("examples")) + _examples(
        multipart.get("examples")
    ):
        if not isinstance(example, dict):
            continue
        for files in _file_sets(example, encoding, combined_files):
            out.append((list(base), NOT_SET, files))
    return out


def _file_sets(
    example: dict[str, Any], encoding: dict[str, Any], combined_files: int = 1
) -> list[list[tuple[str, tuple[str, bytes, str]]]]:
    """One multipart example as file-part lists: the example, then each CSV part's variants."""
    parts: list[tuple[str, str, str]] = []
    for name, value in example.items():
        if not isinstance(value, str):
            value = json.dumps(value)
        ctype = str((encoding.get(name) or {}).get("contentType") or "text/plain")
        parts.append((name, value, ctype.split(",")[0].strip()))

    def encode(texts: list[str]) -> list[tuple[str, tuple[str, bytes, str]]]:
        return [
            (name, (filename_for(name, ctype), text.encode("utf-8"), ctype))
            for (name, _, ctype), text in zip(parts, texts, strict=True)
        ]

    original = [text for _, text, _ in parts]
    out = [encode(original)]
    for index, (_, text, ctype) in enumerate(parts):
        if is_csv(ctype):
            for variant in csv_variants(text, combined_files)[1:]:
                out.append(encode([*original[:index], variant, *original[index + 1 :]]))
    return out


def _roles_for(index: int, total: int, roles: list[str | None]) -> list[str | None]:
    if total < len(roles):
        # too few distinct cases to cycle: send the last one as every remaining role
        if index == total - 1:
            return roles[index:]
        return [roles[index]]
    return [roles[index % len(roles)]]
