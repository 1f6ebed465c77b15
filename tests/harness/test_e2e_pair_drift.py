"""A pair parity did not ship with, misbehaving as real pairs do (issue 13).

Each switch of the fixture pair makes the candidate misbehave in one way; each test shows
the behaviour caught as its own finding, grouped as a user needs it, or the run stopped
with exit 2 where nothing could be tested.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.conftest import RunPair, make_config

pytestmark = [pytest.mark.e2e]


def _kinds(results: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every (operation, location, kind) a finding shows, its own and those that travel
    with it (one cause per request)."""
    return {
        (f["operation"], place["location"], place["kind"])
        for f in results["findings"]
        for place in f["locations"] or [f]
    }


def test_a_500_that_closes_the_connection_is_a_finding_not_the_end(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "4", "--operation", "GET /items/{id}", drift="raise")
    assert results["errors"] == [], results["errors"]
    assert code == 1
    fives = [f for f in results["findings"] if f["location"].endswith(" vs 500")]
    assert fives, sorted(_kinds(results))
    assert fives[0]["example"]["steps"][0]["candidate"]["status"] == 500
    # the run went on after the 500: later cases were sent and compared
    op = next(o for o in results["operations"] if o["id"] == "GET /items/{id}")
    assert op["status_codes"]["candidate"].get("500", 0) < op["cases"]


def test_an_accepted_status_pair_never_accepts_a_500(run_pair: RunPair) -> None:
    accept = (
        '\n[[accept]]\noperation = "POST /items"\nlocation = "status:201 vs 200"\nkind = "status"\n'
        'reason = "the port answers 200 on create"\nexpires = 2099-01-01\n'
    )
    code, results = run_pair(
        "--seed", "4", "--operation", "POST /items", drift="created200", extra=accept
    )
    # accepted, so no drift; but the port's 200 is not the contract's 201: nothing proven
    assert results["verdict"] == "incomplete", sorted(_kinds(results))
    assert code == 2
    assert ("POST /items", "status:201 vs 200", "status") in {
        (f["operation"], f["location"], f["kind"]) for f in results["findings"] if f["accepted"]
    }
    # a status rule says the two are the same answer: then the create is proven
    rule = (
        '\n[[normalize]]\noperation = "POST /items"\nlocation = "status"\naction = "status"\n'
        'legacy = "201"\ncandidate = "200"\nreason = "the port answers 200 on create"\n'
    )
    code, results = run_pair(
        "--seed", "4", "--operation", "POST /items", drift="created200", extra=rule
    )
    assert code == 0, (sorted(_kinds(results)), results["unproven"])
    code, results = run_pair(
        "--seed", "4", "--operation", "GET /items/{id}", drift="raise", extra=accept
    )
    assert code == 1


def test_a_mask_hides_a_value_not_that_one_side_left_it_unchanged(run_pair: RunPair) -> None:
    mask = (
        '\n[[normalize]]\nlocation = "db:items.updated_at"\naction = "mask"\npattern = ".*"\n'
        'reason = "clock"\n[[normalize]]\nlocation = "body:$.updatedAt"\naction = "ignore"\n'
        'reason = "clock"\n'
    )
    code, results = run_pair(
        "--seed", "4", "--operation", "PATCH /items/{id}", drift="nobump", extra=mask
    )
    assert code == 1, sorted(_kinds(results))
    assert ("PATCH /items/{id}", "db:items.updated_at", "db_update") in _kinds(results)


def test_one_cause_on_many_operations_is_one_cause(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "4", drift="text404")
    assert code == 1
    causes = [
        c for c in results["causes"] if c["location"] == "body:$" and len(c["operations"]) > 1
    ]
    assert causes, results["causes"]
    assert len(causes[0]["operations"]) >= 3


@pytest.fixture
def based(pair_dir: Path) -> Path:
    """The pair served under /api with a Token scheme; the contract says so in servers."""
    contract = pair_dir / "openapi.yaml"
    data = yaml.safe_load(contract.read_text())
    data["servers"] = [{"url": "http://127.0.0.1:9/api"}]
    contract.write_text(yaml.safe_dump(data))
    text = (pair_dir / "parity.toml").read_text()
    text = text.replace(
        'PAIR_DRIFT = ""', 'PAIR_DRIFT = "", PAIR_BASE = "/api", PAIR_AUTH_PREFIX = "Token "'
    )
    text = text.replace('token_path = "$.token"', 'token_path = "$.token"\nprefix = "Token "')
    (pair_dir / "parity.toml").write_text(text)
    return pair_dir


def test_a_base_path_and_a_token_scheme_are_followed(run_pair: RunPair, based: Path) -> None:
    code, results = run_pair("--seed", "4", config=make_config(based))
    assert code == 0, (results.get("errors"), results.get("unproven"))
    assert results["coverage"]["operations_proven"] == results["coverage"]["operations_exercised"]
    step = next(iter(results["findings"]), None)
    assert step is None
    curl_ok = results["operations"]  # every operation got answers, not 404s
    assert all("404" not in o["status_codes"]["legacy"] or o["cases"] > 1 for o in curl_ok)


def test_every_request_404_says_the_base_path_does_not_match(
    run_pair: RunPair, based: Path
) -> None:
    config = make_config(based)
    config.write_text('base_path = "/wrong"\n' + config.read_text())
    code, results = run_pair("--seed", "4", "--operation", "GET /items", config=config)
    assert code == 2
    assert any("base path" in e["message"] for e in results["errors"]), results["errors"]


def test_a_stored_time_moved_by_a_second_is_caught_under_the_clock_tolerance(
    run_pair: RunPair,
) -> None:
    """The fixture's tolerance on createdAt is 5000 ms; it covers values each side stamps
    during the request, not stored ones: a port that reads every stored time out one second
    later is drift, for the seeded rows and for the ones a create stamps."""
    code, results = run_pair(
        "--seed",
        "4",
        "--operation",
        "GET /items/{id}",
        "--operation",
        "POST /items",
        drift="shifttime",
    )
    assert code == 1, results.get("errors")
    keys = _kinds(results)
    assert ("GET /items/{id}", "body:$.createdAt", "time") in keys, sorted(keys)
    assert ("POST /items", "body:$.createdAt", "time") in keys, sorted(keys)
    code, results = run_pair(
        "--seed", "4", "--operation", "GET /items/{id}", "--operation", "POST /items"
    )
    assert code == 0, sorted(_kinds(results))


RESET = """\
import sqlite3, sys
snapshot, count, *targets = sys.argv[1:]
for target in targets:
    src, dst = sqlite3.connect(snapshot), sqlite3.connect(target)
    src.backup(dst)
    src.close(); dst.close()
with open(count, "a") as f:
    f.write("reset\\n")
"""


def test_url_mode_resets_only_before_a_case_that_could_see_a_write(
    run_pair: RunPair, pair_dir: Path, tmp_path: Path
) -> None:
    """Reads need no reset; a write that both sides rejected (4xx) changed nothing; the reset
    runs before the first case after a write that may have changed state. The count and the
    time are in the results."""
    from tests.harness.conftest import running_pair

    (tmp_path / "reset.py").write_text(RESET)
    count = tmp_path / "resets.txt"
    config = make_config(pair_dir)
    with running_pair(config, tmp_path) as (services, snapshot):
        reset = [sys.executable, str(tmp_path / "reset.py"), str(snapshot), str(count)]
        reset += [str(s.database) for s in services]
        extra = f"\n[external]\nreset_command = {json.dumps(reset)}\n"
        cfg = make_config(pair_dir, extra=extra)
        urls = ["--legacy-url", services[0].base_url, "--candidate-url", services[1].base_url]
        code, reads = run_pair(
            "--seed", "3", "--operation", "GET /items", *urls, config=cfg, leftovers=False
        )
        assert code == 0, reads.get("findings")
        assert reads["stats"]["resets"] == 1  # before the first scenario only
        code, writes = run_pair(
            "--seed", "3", "--operation", "POST /items", *urls, config=cfg, leftovers=False
        )
    assert code == 0, writes.get("findings")
    runs = len(count.read_text().splitlines())
    assert runs == 1 + writes["stats"]["resets"]  # the results count every reset it ran
    op = next(o for o in writes["operations"] if o["id"] == "POST /items")
    # before: a reset after every write case; now only after those not rejected (4xx)
    # on both sides: the creates, and the probes' redirects
    assert op["status_codes"]["legacy"].get("201", 0) + 1 < writes["stats"]["resets"]
    assert writes["stats"]["resets"] < op["cases"] / 2
    assert writes["stats"]["timings_s"]["reset"] > 0


def test_what_one_request_caused_in_body_rows_and_events_is_one_finding(
    run_pair: RunPair,
) -> None:
    """A create that stores a wrong price shows it in its body, its row and its event row's
    payload: one finding with the three locations, not three findings."""
    code, results = run_pair("--seed", "4", "--operation", "POST /items", drift="wrongprice")
    assert code == 1, results.get("errors")
    open_ = [f for f in results["findings"] if not f["accepted"]]
    assert len(open_) == 1, [(f["location"], f["kind"]) for f in open_]
    finding = open_[0]
    places = {(p["location"], p["kind"]) for p in finding["locations"]}
    assert places == {
        ("body:$.price", "value"),
        ("db:items.price", "db_insert"),
        ("db:events.payload", "db_insert"),
    }, places
    assert (finding["location"], finding["kind"]) == ("body:$.price", "value")
    shown = {d["location"] for d in finding["example"]["diff"]}
    assert shown == {"body:$.price", "db:items.price", "db:events.payload"}
    # accept rules still work per location: accepting the body leaves the rows open
    accept = (
        '\n[[accept]]\noperation = "POST /items"\nlocation = "body:$.price"\nkind = "value"\n'
        'reason = "x"\nexpires = 2099-01-01\n'
    )
    code, results = run_pair(
        "--seed", "4", "--operation", "POST /items", drift="wrongprice", extra=accept
    )
    assert code == 1
    open_ = [f for f in results["findings"] if not f["accepted"]]
    assert [sorted(p["location"] for p in f["locations"]) for f in open_] == [
        ["db:events.payload", "db:items.price"]
    ]
    assert [f["location"] for f in results["findings"] if f["accepted"]] == ["body:$.price"]


@pytest.fixture
def with_logout(pair_dir: Path) -> Path:
    """The fixture contract with its logout operation declared."""
    contract = pair_dir / "openapi.yaml"
    data = yaml.safe_load(contract.read_text())
    data["paths"]["/logout"] = {
        "post": {
            "operationId": "logout",
            "responses": {"204": {"description": "logged out"}, "401": {"description": "no"}},
        }
    }
    contract.write_text(yaml.safe_dump(data))
    return pair_dir


def test_a_logged_out_token_is_probed_once_per_path(run_pair: RunPair, with_logout: Path) -> None:
    """A session logged in and out through the contract's logout: its token is sent once
    per path; a port whose logout leaves the session valid answers it."""
    code, results = run_pair("--seed", "4", "--operation", "GET /items*", drift="keepsession")
    assert code == 1, results.get("errors")
    probed = [
        f
        for f in results["findings"]
        if f["operation"].endswith("[auth:logged-out]") and f["phase"] == "probes"
    ]
    assert {f["operation"] for f in probed} == {
        "GET /items [auth:logged-out]",
        "GET /items/{id} [auth:logged-out]",
        "GET /items/{id}/reviews [auth:logged-out]",
    }, [(f["operation"], f["location"]) for f in results["findings"]]
    assert all(f["location"] == "status:401 vs 200" for f in probed)
    assert all(f["count"] == 1 for f in probed)
    # an agreeing pair answers the logged-out token alike: 401 on both sides
    code, results = run_pair("--seed", "4", "--operation", "GET /items*")
    assert code == 0, [(f["operation"], f["location"]) for f in results["findings"]]
    probes = next(o for o in results["operations"] if o["id"] == "probes")
    assert probes["status_codes"]["legacy"].get("401", 0) >= 3


def test_a_replay_script_reproduces_the_difference_on_the_live_pair(
    run_pair: RunPair, pair_dir: Path, tmp_path: Path
) -> None:
    """Each finding's replay/<id>.sh (linked from the report) runs as-is against a running
    pair, given its URLs and a token per side and role, and shows the two answers."""
    import os
    import subprocess

    import httpx

    from tests.harness.conftest import running_pair

    code, results = run_pair("--seed", "4", "--operation", "GET /items/{id}", drift="value")
    assert code == 1
    finding = next(f for f in results["findings"] if f["location"] == "body:$.name")
    latest = tmp_path / "reports" / "latest"
    script = latest / finding["replay"]
    assert script.is_file()
    assert os.access(script, os.X_OK)
    assert f'href="{finding["replay"]}"' in (latest / "parity.html").read_text()
    legacy_name = finding["example"]["steps"][0]["legacy"]["body"]["name"]
    live = tmp_path / "live"
    live.mkdir()
    with running_pair(make_config(pair_dir, drift="value"), live) as (services, _):
        env = {
            "PATH": os.environ["PATH"],
            "LEGACY_URL": services[0].base_url,
            "CANDIDATE_URL": services[1].base_url,
        }
        missing = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
        assert missing.returncode == 2
        assert "LEGACY_TOKEN_" in missing.stderr
        for side, svc in (("LEGACY", services[0]), ("CANDIDATE", services[1])):
            for role, password in (("admin", "admin-pw"), ("viewer", "viewer-pw")):
                login = {"username": role, "password": password}
                token = httpx.post(f"{svc.base_url}/login", json=login).json()["token"]
                env[f"{side}_TOKEN_{role.upper()}"] = token
        out = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 0, out.stderr
    legacy_part, candidate_part = out.stdout.split("==== candidate", 1)
    assert "HTTP/1.1 200" in legacy_part
    assert "HTTP/1.1 200" in candidate_part
    assert f'"name":"{legacy_name}"' in legacy_part, out.stdout
    assert f'"name":"{legacy_name.upper()}"' in candidate_part, out.stdout


def test_a_cap_under_the_documented_maximum_is_caught_once_the_list_is_grown(
    run_pair: RunPair,
) -> None:
    """The seed holds 20 items; the candidate answers at most 25 of the 50 the contract
    allows. Only the growth phase (creates sent again on both sides until the list holds
    maximum + 1 rows) shows it; with ``growth_rows = 0`` the same run agrees."""
    ops = ("--operation", "GET /items", "--operation", "POST /items")
    code, results = run_pair("--seed", "4", "--profile", "dev", *ops, drift="listcap")
    grown = [f for f in results["findings"] if f["phase"] == "growth"]
    assert code == 1, sorted(_kinds(results))
    assert grown, sorted(_kinds(results))
    assert {f["operation"] for f in grown} == {"GET /items"}, sorted(_kinds(results))
    steps = grown[0]["example"]["steps"]
    assert len(steps) >= 31  # 20 + 31 > 50
    assert steps[-1]["request"]["method"] == "GET"
    assert any(n.startswith("growth GET /items: 20 -> 51 rows") for n in results["stats"]["notes"])
    off = "\n[profiles.nogrow]\npositive = 12\nnegative = 6\ninvariants = false\ngrowth_rows = 0\n"
    code, results = run_pair("--seed", "4", "--profile", "nogrow", *ops, drift="listcap", extra=off)
    assert code == 0, sorted(_kinds(results))
    # a run aimed at the list alone never sends the create: the create's pool cases grow it
    code, results = run_pair(
        "--seed", "4", "--profile", "dev", "--operation", "GET /items", drift="listcap"
    )
    assert code == 1, sorted(_kinds(results))
    assert [f["phase"] for f in results["findings"]] == ["growth"], sorted(_kinds(results))


def test_growth_on_an_agreeing_pair_finds_nothing(run_pair: RunPair) -> None:
    ops = ("--operation", "GET /items", "--operation", "POST /items")
    code, results = run_pair("--seed", "4", "--profile", "dev", *ops)
    assert code == 0, sorted(_kinds(results))
    assert any(n.startswith("growth GET /items: 20 -> 51 rows") for n in results["stats"]["notes"])
