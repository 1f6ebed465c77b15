"""Values from a user's data kept out of what parity writes: a request whose
``data_values`` name a private origin (URL mode: the values were read from the user's own
database; ``[traffic] values_from``: what real callers sent) is rendered with each such
value replaced by its placeholder, ``<data:notes.title>``, in the console, the HTML report,
results.json, JUnit, curl lines and replay scripts, unless ``[external] show_data_values``
allows them.

The places come from the request itself (:class:`harness.models.DataValue`, set where the
value was put in), never from searching the rendered text for the value; whatever sits at a
tagged place is masked, so a shrunk (shortened) value is masked too.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import replace
from typing import Any

from harness.cases.generation import ENCODING_ERRORS, rebuild
from harness.models import DataValue, PreparedRequest

__all__ = [
    "SHOW_HINT",
    "echoed",
    "mask_echoes",
    "mask_request",
    "masked_places",
    "unquote_placeholders",
]

SHOW_HINT = (
    "values taken from your data (the legacy's database in URL mode, captured traffic) "
    "are shown as <data:table.column>; show_data_values = true under [external] in "
    "parity.toml shows them"
)
_QUOTED = re.compile(r"%3Cdata(?::|%3A)([\w.\-]+?)%3E", re.IGNORECASE)


def _private(req: PreparedRequest) -> list[DataValue]:
    return [d for d in req.data_values if d.private]


def masked_places(req: PreparedRequest) -> list[str]:
    """``query q: <data:notes.title>`` per private value the request still carries (a
    shrunk request may have dropped one)."""
    params = dict(req.path_params)
    out: list[str] = []
    for d in dict.fromkeys(_private(req)):
        name = d.keys[0] if d.keys else ""
        if d.location == "query":
            present = any(k == name for k, _ in req.query)
        elif d.location == "path":
            present = name in params
        else:
            present = _at(req.body, d.keys) is not None
        if present:
            out.append(f"{d.location} {'.'.join(d.keys)}: {d.placeholder}")
    return out


def _set_present(body: Any, keys: tuple[str, ...], value: Any) -> Any:
    """``body`` with the field at ``keys`` set to ``value`` where the field exists."""
    if not keys or not isinstance(body, dict) or keys[0] not in body:
        return body
    if len(keys) == 1:
        return {**body, keys[0]: value}
    return {**body, keys[0]: _set_present(body[keys[0]], keys[1:], value)}


def mask_request(req: PreparedRequest) -> PreparedRequest:
    """``req`` with every private data value replaced by its placeholder (the request as a
    report shows it; never sent). A request without one is returned as is."""
    marks = _private(req)
    if not marks:
        return req
    query = list(req.query)
    params = dict(req.path_params)
    body = req.body
    for mark in marks:
        name = mark.keys[0] if mark.keys else ""
        if mark.location == "query":
            query = [(k, mark.placeholder if k == name else v) for k, v in query]
        elif mark.location == "path" and name in params:
            params[name] = mark.placeholder
        elif mark.location == "body":
            body = _set_present(body, mark.keys, mark.placeholder)
    out = replace(req, query=tuple(query))
    if body is not req.body:
        try:
            out = replace(rebuild(out, json_body=body), path_params=out.path_params)
        except ENCODING_ERRORS:
            out = replace(out, body=body, content=None)
    if params != dict(req.path_params):  # after the body: a rebuild encodes the path
        path = req.operation.partition(" ")[2] or req.path
        for key, value in params.items():
            quoted = value if value.startswith("<data:") else urllib.parse.quote(value, safe="")
            path = path.replace("{" + key + "}", quoted)
        out = replace(out, path=path, path_params=tuple(params.items()))
    return out


def unquote_placeholders(text: str) -> str:
    """A rendered URL's percent-encoded placeholders (``%3Cdata%3Anotes.title%3E``) as
    written (``<data:notes.title>``), so a reader sees which value to fill in."""
    return _QUOTED.sub(lambda m: f"<data:{m.group(1)}>", text)


def _at(body: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(body, dict) or key not in body:
            return None
        body = body[key]
    return body


def echoed(req: PreparedRequest) -> dict[str, str]:
    """The texts ``req`` carries at private places, each with its placeholder: an answer or
    a written row that holds one of them whole (a create echoing its title) is masked too."""
    out: dict[str, str] = {}
    params = dict(req.path_params)
    for mark in _private(req):
        name = mark.keys[0] if mark.keys else ""
        if mark.location == "query":
            found: list[Any] = [v for k, v in req.query if k == name]
        elif mark.location == "path":
            found = [params.get(name)]
        else:
            found = [_at(req.body, mark.keys)]
        out.update({v: mark.placeholder for v in found if isinstance(v, str) and v})
    return out


def mask_echoes(value: Any, texts: dict[str, str]) -> Any:
    """``value`` (a decoded answer, a row, a diff) with every string equal to one of
    ``texts`` replaced by its placeholder: equality, never a search inside a longer text."""
    if not texts:
        return value
    if isinstance(value, str):
        return texts.get(value, value)
    if isinstance(value, dict):
        return {k: mask_echoes(v, texts) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_echoes(v, texts) for v in value]
    return value
