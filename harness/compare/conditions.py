"""Conditions on a request (``when`` of ``[[accept]]`` and ``[[normalize]]``): a known cause
is accepted where the request shows it, on every operation, and nowhere else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from harness.compare.normalization import child_path, path_regex
from harness.models import NOT_SET, PreparedRequest
from harness.setup.config import RequestCondition

__all__ = ["describe", "holds"]


def holds(when: RequestCondition, req: PreparedRequest | None) -> bool:
    """Every condition ``when`` names holds for ``req`` (None: no request known, so no)."""
    if req is None:
        return False
    if when.role is not None and (req.role or "anonymous").split("#", 1)[0] not in when.role:
        return False
    if when.value_contains is not None and not _contains(req, when.value_contains):
        return False
    if when.body_path is not None:
        where = path_regex(when.body_path)
        pattern = re.compile(when.matches if when.matches is not None else ".*", re.DOTALL)
        if not any(
            where.match(path) and pattern.fullmatch(_text(value))
            for path, value in _leaves("$", req.body if req.body is not NOT_SET else None)
        ):
            return False
    return True


def describe(when: RequestCondition) -> str:
    """One line for reports: what the request held."""
    parts = []
    if when.value_contains is not None:
        parts.append(f"a request value contains {when.value_contains!r}")
    if when.body_path is not None:
        parts.append(f"body {when.body_path} matches {when.matches or '.*'!r}")
    if when.role is not None:
        parts.append(f"role in {when.role}")
    return " and ".join(parts)


def _contains(req: PreparedRequest, needle: str) -> bool:
    """Anywhere the service reads a value: the path (decoded), the query, the body as sent
    (JSON, form or multipart bytes) and as decoded."""
    raw = needle.encode("utf-8")
    if raw in unquote_to_bytes(req.path):
        return True
    if any(needle in k or needle in v for k, v in req.query):
        return True
    if req.content is not None and raw in req.content:
        return True
    # JSON escapes a control character (U+0000 travels as \u0000)
    escaped = f"\\u{ord(needle):04x}".encode() if len(needle) == 1 else None
    if req.content is not None and escaped is not None and escaped in req.content.lower():
        return True
    body = req.body if req.body is not NOT_SET else None
    return any(needle in _text(v) or needle in p for p, v in _leaves("$", body))


def _leaves(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(child_path(path, str(key)), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(child_path(path, index), item)
    elif value is not None:
        yield path, value


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)
