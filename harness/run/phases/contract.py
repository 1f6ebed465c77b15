"""Static contract drift, before any request: the candidate's published contract
(``candidate_contract``) against the legacy's (``harness.setup.contract_diff``).

Each change is a finding of kind ``contract`` in phase ``contract``; its example holds
the operation's definition in each contract (the request names where the candidate's
contract was read). A contract that cannot be read is parity's error (exit 2), not drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from harness.errors import HarnessError
from harness.models import NOT_SET, Difference, ExchangeResult, PreparedRequest, Response
from harness.run.context import RunContext
from harness.setup.contract_diff import diff_contracts, fragment

__all__ = ["StaticContract", "read_candidate_contract"]


def read_candidate_contract(where: str, candidate_url: str, base_dir: Path) -> dict[str, Any]:
    """``where``: a URL, a path on the candidate's origin ("/openapi.json") or a file
    relative to the config."""
    try:
        if where.startswith(("http://", "https://", "/")):
            if where.startswith("/"):
                parts = urlsplit(candidate_url)
                where = f"{parts.scheme}://{parts.netloc}{where}"
            resp = httpx.get(where, timeout=30)
            resp.raise_for_status()
            text = resp.text
        else:
            text = (base_dir / where).read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (httpx.HTTPError, OSError, yaml.YAMLError) as exc:
        raise HarnessError(
            f"candidate_contract {where}: cannot read it: {exc}", kind="contract"
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise HarnessError(f"candidate_contract {where}: not an OpenAPI document", kind="contract")
    return doc


def _answer(value: Any) -> Response:
    return Response(200, (("content-type", "application/json"),), value, json.dumps(value), 0.0)


class StaticContract:
    name = "contract"

    def execute(self, ctx: RunContext) -> None:
        where = ctx.config.candidate_contract
        if where is None:
            return
        candidate = read_candidate_contract(
            where, ctx.pair.targets["candidate"].base_url, ctx.config.base_dir
        )
        changes = diff_contracts(ctx.contract.raw, candidate)
        ctx.stats.notes.append(
            f"static contract check against the candidate's {where}: {len(changes)} change(s)"
        )
        path = urlsplit(where).path if where.startswith(("http", "/")) else "/" + Path(where).name
        for change in changes:
            req = PreparedRequest(
                change.operation, "GET", path, (), (), None, NOT_SET, None, None, "contract"
            )
            diff = Difference(
                change.location,
                "contract",
                change.location.removeprefix("contract:"),
                change.legacy,
                change.candidate,
                change.summary,
            )
            ctx.findings.record(
                ExchangeResult(
                    req,
                    _answer(fragment(ctx.contract.raw, change.operation)),
                    _answer(fragment(candidate, change.operation)),
                    None,
                    None,
                    [diff],
                ),
                "contract",
            )
