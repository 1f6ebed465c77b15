"""The case cache stores requests as JSON, byte for byte, and is keyed on what shapes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.cases.source import CaseSource, request_from_json, request_to_json
from harness.models import NOT_SET, PreparedRequest


def _req(**kw: Any) -> PreparedRequest:
    base: dict[str, Any] = {
        "operation": "POST /x",
        "method": "POST",
        "path": "/x",
        "query": (("a", "1"), ("a", "2")),
        "headers": (("content-type", "application/json"),),
        "content": b"\x00\xff{}",
        "body": NOT_SET,
        "media_type": "application/json",
        "role": "admin",
        "mode": "negative",
        "path_params": (("id", "7"),),
    }
    base.update(kw)
    return PreparedRequest(**base)


def test_requests_round_trip_through_json_exactly() -> None:
    for req in (
        _req(),
        _req(body={"$": "x", "n": [1, 2.5, None]}),
        _req(body="text", content=None),
    ):
        back = request_from_json(request_to_json(req))
        assert back == req
        assert back.signature() == req.signature()


def test_the_cache_is_used_on_a_second_run_and_keyed_on_the_seed(
    contract: Any, config: Any, tmp_path: Path
) -> None:
    profile = config.profile("dev").model_copy(update={"positive": 3, "negative": 1, "cache": True})
    op = contract.get("GET /items")
    first = CaseSource(
        contract, config.auth, config.role_names(profile), profile, 5, tmp_path, pipeline=False
    )
    cases = first.generate(op)
    assert first.cache_hits == 0
    assert list(tmp_path.glob("*.json"))
    again = CaseSource(
        contract, config.auth, config.role_names(profile), profile, 5, tmp_path, pipeline=False
    )
    assert again.generate(op) == cases
    assert again.cache_hits == 1
    other_seed = CaseSource(
        contract, config.auth, config.role_names(profile), profile, 6, tmp_path, pipeline=False
    )
    other_seed.generate(op)
    assert other_seed.cache_hits == 0
    no_cache = profile.model_copy(update={"cache": False})
    roles = config.role_names(no_cache)
    off = CaseSource(contract, config.auth, roles, no_cache, 5, tmp_path, pipeline=False)
    off.generate(op)
    assert off.cache_hits == 0
