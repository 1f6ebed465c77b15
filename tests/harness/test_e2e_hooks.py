"""Signed webhooks and idempotency keys (issue 27) on the fixture pair's ``POST /hooks/items``
(HMAC over the raw body and a timestamp, a five-minute window, replays refused, an
``Idempotency-Key`` kept in the database). The signing phase sends each signed operation's
valid request unsigned, mis-signed, stale and replayed; the idempotency phase repeats a key
and reuses it with another body. Each drift is caught under its probe's name and the
agreeing pair stays quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.harness.conftest import RunPair, make_config

pytestmark = pytest.mark.e2e

HOOK_OP = {
    "post": {
        "operationId": "receiveHook",
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 40},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 40}},
                    }
                }
            },
        },
        "responses": {
            "201": {"description": "received"},
            "400": {"description": "invalid"},
            "401": {"description": "unsigned or badly signed"},
            "409": {"description": "a replay, or a key with another body"},
        },
    }
}
SIGNING = """
[auth.signing]
operations = ["POST /hooks/items"]
secret_env = "PAIR_SIGNING_SECRET"
signature_header = "X-Signature"
timestamp_header = "X-Signature-Timestamp"
message = "{timestamp}.{body}"
signature = "sha256={hex}"

[[normalize]]
location = "db:deliveries.signature"
action = "ignore"
reason = "signed at each side's own send time: a second apart now and then"

[profiles.hooks]
positive = 6
negative = 2
invariants = false
"""
ONLY = ("--seed", "3", "--profile", "hooks", "--operation", "POST /hooks/items")


@pytest.fixture
def hooks_pair(pair_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAIR_SIGNING_SECRET", "fixture-secret-27")
    contract = pair_dir / "openapi.yaml"
    doc = yaml.safe_load(contract.read_text())
    doc["paths"]["/hooks/items"] = HOOK_OP
    contract.write_text(yaml.safe_dump(doc))
    return pair_dir


def test_an_agreeing_signed_idempotent_pair_is_quiet(run_pair: RunPair, hooks_pair: Path) -> None:
    code, results = run_pair(*ONLY, config=make_config(hooks_pair, extra=SIGNING))
    assert code == 0, results.get("findings")
    assert results["stats"]["edges"] == {"signing": 4, "idempotency": 3}
    by_op = {op["id"]: op for op in results["operations"]}
    assert by_op["POST /hooks/items"]["proven"]


@pytest.mark.parametrize(
    ("drift", "probe"),
    [
        ("sigoptional", "POST /hooks/items [missing signature]"),
        ("sigstale", "POST /hooks/items [stale timestamp]"),
        ("sigreplay", "POST /hooks/items [replayed signature]"),
        ("sigjson", "POST /hooks/items"),
        ("idemnone", "POST /hooks/items [key replayed]"),
        ("idemconflict", "POST /hooks/items [key with another body]"),
        ("idemrace", "POST /hooks/items [key sent twice at once]"),
    ],
)
def test_a_signing_or_idempotency_drift_is_caught_by_its_probe(
    run_pair: RunPair, hooks_pair: Path, drift: str, probe: str
) -> None:
    code, results = run_pair(*ONLY, config=make_config(hooks_pair, drift=drift, extra=SIGNING))
    assert code == 1, results.get("errors")
    operations = {f["operation"] for f in results["findings"]}
    assert probe in operations, operations


LADDER = """
[[rate_limit]]
operation = "POST /hooks/items"
max_requests = 12
window_s = 60  # the fixture's windows are clock-aligned minutes: never climb across a boundary

[profiles.ladder]
stateless = false
require_proof = false
invariants = false
"""


@pytest.mark.parametrize("drift", ["", "ratelate"])
def test_a_rate_limit_one_request_late_is_caught_and_equal_limits_agree(
    run_pair: RunPair, hooks_pair: Path, monkeypatch: pytest.MonkeyPatch, drift: str
) -> None:
    monkeypatch.setenv("PAIR_RATE_LIMIT", "5")  # both services: 5 calls a minute
    config = make_config(hooks_pair, drift=drift, extra=SIGNING + LADDER)
    code, results = run_pair(
        "--seed", "3", "--profile", "ladder", "--operation", "POST /hooks/items", config=config
    )
    sent = results["stats"]["edges"]["rate_limit_requests"]
    if not drift:
        assert code == 0, results.get("findings")
        assert sent == 6  # five accepted, the sixth refused on both sides
        return
    assert code == 1, results.get("errors")
    [finding] = results["findings"]
    assert finding["operation"] == "POST /hooks/items [rate limit]"
    assert finding["example"]["diff"][0]["legacy"] == "request 6"
    assert finding["example"]["diff"][0]["candidate"] == "request 7"
    assert sent == 7
