"""``parity run`` on the fixture pair: agreement, each kind of drift, dead services, bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.harness.conftest import RunPair, assert_no_leftovers, make_config

pytestmark = pytest.mark.e2e


def _kinds(results: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every (operation, location, kind) a finding shows, its own and those that travel
    with it (one cause per request)."""
    return {
        (f["operation"], place["location"], place["kind"])
        for f in results["findings"]
        for place in f["locations"] or [f]
    }


def test_agreeing_pair_exits_zero(run_pair: RunPair, tmp_path: Path) -> None:
    code, results = run_pair("--seed", "5")
    assert code == 0
    assert results["verdict"] == "agree"
    assert results["findings"] == []
    assert results["errors"] == []
    assert sum(op["cases"] for op in results["operations"]) > 40
    # every operation exercised, each with both roles and anonymous requests
    assert results["coverage"]["operations_exercised"] == 9
    statuses = {op["id"]: set(op["status_codes"]["legacy"]) for op in results["operations"]}
    assert {"201", "401", "403"} <= statuses["POST /items"]
    # anonymous cases really are anonymous: the login's session cookie is never replayed
    assert "401" in statuses["GET /items"]
    assert "401" in statuses["GET /items/{id}"]
    assert results["stats"]["restores"] > 0  # write cases restored the snapshot
    run_dir = tmp_path / "reports" / results["run_id"]
    assert (run_dir / "results.json").is_file()
    assert (run_dir / "legacy.log").is_file()
    assert not (tmp_path / "reports" / "latest").is_symlink()


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ("status", ("GET /items/{id}", "status:404 vs 410", "status")),
        ("header", ("POST /items", "header:location", "header")),
        ("value", ("GET /items/{id}", "body:$.name", "value")),
        ("date", ("GET /items", "body:$.items[*].createdAt", "format")),
        ("order", ("GET /items", "body:$.items", "ordering")),
        ("dbwrite", ("POST /items", "db:events.kind", "db_insert")),
    ],
)
def test_each_kind_of_drift_is_found(
    run_pair: RunPair, drift: str, expected: tuple[str, str, str]
) -> None:
    # the drifting operation alone: test_agreeing_pair_exits_zero runs the whole profile
    code, results = run_pair("--seed", "5", "--operation", expected[0], drift=drift)
    assert code == 1, results.get("errors")
    assert results["verdict"] == "drift"
    assert expected in _kinds(results), sorted(_kinds(results))
    finding = next(
        f for f in results["findings"] if (f["operation"], f["location"], f["kind"]) == expected
    )
    step = finding["example"]["steps"][0]
    assert step["curl"]["legacy"].startswith("curl ")
    assert step["legacy"]["status"] > 0
    assert step["candidate"]["status"] > 0
    assert finding["example"]["diff"]
    if drift == "dbwrite":
        writes = finding["example"]["db_writes"]
        assert writes["legacy"]["events"]["inserted"][0]["kind"] == "item.created"
        assert writes["candidate"]["events"]["inserted"][0]["kind"] == "item.create"
        # the response itself agreed: only the database write differs
        assert {f["location"] for f in results["findings"]} == {"db:events.kind"}


def test_shrinking_gives_a_minimal_example(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "5", "--operation", "POST /items", drift="dbwrite")
    assert code == 1
    finding = results["findings"][0]
    body = finding["example"]["steps"][0]["request"]["body"]
    # only the required fields, each as short as the drift allows
    assert set(body) == {"name", "price"}, body
    assert len(body["name"]) == 1


def test_accepted_difference_does_not_fail_but_expired_one_does(run_pair: RunPair) -> None:
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    accept = (
        '[[accept]]\noperation = "GET /items/{id}"\nlocation = "body:$.name"\nkind = "value"\n'
        f'reason = "names are upper-cased on purpose"\nexpires = {future}\n'
    )
    code, results = run_pair(
        "--seed", "5", "--operation", "GET /items/{id}", drift="value", extra=accept
    )
    assert code == 0
    assert results["findings"]
    assert all(f["accepted"] for f in results["findings"])
    assert results["accepted"][0]["matched"] > 0

    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    code, results = run_pair(
        "--seed",
        "5",
        "--operation",
        "GET /items/{id}",
        drift="value",
        extra=accept.replace(future, past),
    )
    assert code == 1
    assert results["accepted"][0]["expired"] is True
    assert any("expired" in m for m in results["messages"])


def test_same_seed_same_cases(run_pair: RunPair, tmp_path: Path) -> None:
    own = ("--cache-dir", str(tmp_path / "own-cache"))  # not the session's shared cache
    _, first = run_pair("--seed", "11", *own, drift="order")
    _, second = run_pair("--seed", "11", *own, drift="order")
    # the second run drew nothing: its cases came from the cache, and they are the same
    assert first["stats"]["case_cache_hits"] == 0
    assert second["stats"]["case_cache_hits"] == second["coverage"]["operations_exercised"]
    strip = [(op["id"], op["cases"], op["status_codes"]) for op in first["operations"]]
    assert strip == [(op["id"], op["cases"], op["status_codes"]) for op in second["operations"]]
    assert [(f["id"], f["count"]) for f in first["findings"]] == [
        (f["id"], f["count"]) for f in second["findings"]
    ]


@pytest.mark.timing
def test_service_crashing_at_start_is_an_error(run_pair: RunPair) -> None:
    code, results = run_pair(drift="crash_start")
    assert code == 2
    assert results["verdict"] == "error"
    err = results["errors"][0]
    assert "exited during startup" in err["message"]
    assert "refusing to start" in err["log_tail"]


@pytest.mark.timing
def test_service_dying_mid_run_is_an_error(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "5", crash_after=25)
    assert code == 2
    err = results["errors"][0]
    assert "died mid-run" in err["message"], err
    assert "crashing after 25 requests" in err["log_tail"]


def test_broken_snapshot_command_is_an_error(run_pair: RunPair, pair_dir: Path) -> None:
    cfg = make_config(pair_dir)
    cfg.write_text(cfg.read_text().replace('"{seed}"]', '"{seed}", "--fail"]'))
    code, results = run_pair(config=cfg)
    assert code == 2
    assert "snapshot command failed" in results["errors"][0]["message"]


def test_broken_contract_is_an_error(run_pair: RunPair, pair_dir: Path) -> None:
    (pair_dir / "openapi.yaml").write_text("openapi: 3.0.3\npaths:\n  /x: [unclosed\n")
    code, results = run_pair()
    assert code == 2
    assert results == {}  # nothing ran


def test_broken_config_is_an_error(
    run_pair: RunPair, pair_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = make_config(pair_dir, extra="[compare2]\nx = 1\n")
    code, _ = run_pair(config=cfg)
    assert code == 2
    assert "compare2" in capsys.readouterr().out


def test_external_mode_compares_without_databases(
    run_pair: RunPair, pair_dir: Path, tmp_path: Path
) -> None:
    from harness.pair.services import ManagedService, build_snapshot, copy_snapshot
    from harness.setup.config import load_config

    config = load_config(make_config(pair_dir, drift="value"))
    assert config.snapshot is not None
    snap = build_snapshot(config.snapshot, config.base_dir, tmp_path / "s.db", tmp_path / "s.log")
    services = []
    try:
        for key in ("legacy", "candidate"):
            svc = ManagedService(
                key,
                config.services[key],
                config.base_dir,
                copy_snapshot(snap, tmp_path / f"{key}.db"),
                tmp_path / f"{key}.log",
            )
            svc.start()
            services.append(svc)
        for svc in services:
            svc.wait_healthy()
        code, results = run_pair(
            "--seed",
            "5",
            "--operation",
            "GET /items/{id}",
            "--legacy-url",
            services[0].base_url,
            "--candidate-url",
            services[1].base_url,
            config=make_config(pair_dir, drift="value"),
            leftovers=False,
        )
    finally:
        for svc in services:
            svc.stop()
    assert_no_leftovers({})
    assert code == 1
    assert results["config"]["mode"] == "external"
    assert ("GET /items/{id}", "body:$.name", "value") in _kinds(results)
    assert results["findings"][0]["example"]["db_writes"] == {"legacy": {}, "candidate": {}}


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ("nopersist", ("PATCH /items/{id}", "db:items.name")),
        ("orphan", ("DELETE /items/{id}", "db:reviews")),
    ],
)
def test_stateful_sequences_find_drift_only_a_sequence_shows(
    run_pair: RunPair, drift: str, expected: tuple[str, str]
) -> None:
    code, results = run_pair("--seed", "2", "--profile", "seq", drift=drift)
    assert code == 1, results.get("errors")
    assert "stateful" in results["config"]["phases"]
    # one cause per request: the expected place is the finding's main location or one of
    # the locations it lists (a write that did not persist also left updated_at alone)
    found = [
        f
        for f in results["findings"]
        if f["operation"] == expected[0]
        and expected[1] in {f["location"], *(p["location"] for p in f.get("locations") or [])}
    ]
    assert found, [(f["operation"], f["location"]) for f in results["findings"]]
    finding = found[0]
    assert finding["phase"] == "stateful"
    steps = finding["example"]["steps"]
    assert 2 <= len(steps) <= 3
    assert steps[0]["request"]["method"] == "POST"
    assert steps[0]["request"]["path"] == "/items"
    # each step comes with a replayable curl line per target, in order
    assert all(s["curl"]["legacy"].startswith("curl ") for s in steps)


def test_stateful_sequences_agree_on_an_agreeing_pair(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "2", "--profile", "seq")
    assert code == 0
    assert results["stats"]["stateful"]["sequences"] == 40
    assert results["stats"]["stateful"]["steps"] > 60  # sequences do follow links


SEQ_INV = (
    "[profiles.seqinv]\nstateless = false\nrequire_proof = false\n"
    "stateful_sequences = 40\nmax_steps = 4\n"
)


def test_invariants_hold_along_stateful_sequences(run_pair: RunPair) -> None:
    """Only sequences run: the state invariants are checked after their steps; the ones
    that read a single step's writes are not (a sequence's writes are cumulative)."""
    code, results = run_pair("--seed", "2", "--profile", "seqinv", drift="orphan", extra=SEQ_INV)
    assert code == 1, results.get("errors")
    # the broken invariant travels with the rows the same delete left (one cause)
    found = [
        f
        for f in results["findings"]
        if any(p["location"] == "invariant:reviews_belong_to_items" for p in f["locations"])
    ]
    assert found, [(f["operation"], f["location"]) for f in results["findings"]]
    assert found[0]["phase"] == "stateful"
    assert found[0]["operation"] == "DELETE /items/{id}"
    code, results = run_pair("--seed", "2", "--profile", "seqinv", extra=SEQ_INV)
    assert code == 0, results["findings"]
    by_name = {i["name"]: i for i in results["invariants"]}
    assert by_name["reviews_belong_to_items"]["checks"] > 10
    assert by_name["one_event_per_item_write"]["skipped"]


def test_interop_on_a_shared_database(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "2", "--profile", "interop")
    assert code == 0, results["findings"]
    assert results["config"]["phases"] == ["interop"]
    assert results["stats"]["interop"]["reads"] > 0
    # dates stored in another format only show when one service reads the other's rows
    code, results = run_pair("--seed", "2", "--profile", "interop", drift="storedate")
    assert code == 1
    finding = next(f for f in results["findings"] if f["phase"] == "interop")
    assert (finding["operation"], finding["location"], finding["kind"]) == (
        "GET /items/{id}",
        "body:$.updatedAt",
        "format",
    )
    assert "written via candidate, read via legacy" in finding["summary"]
    assert len(finding["example"]["steps"]) == 2


@pytest.mark.slow
def test_noise_calibration_suppresses_only_what_varies_on_its_own(
    run_pair: RunPair, pair_dir: Path
) -> None:
    cfg = make_config(pair_dir, drift="noise,pricebump")
    text = cfg.read_text()
    head, tail = text.split("[services.candidate]", 1)
    cfg.write_text(
        head.replace('PAIR_DRIFT = ""', 'PAIR_DRIFT = "noise"') + "[services.candidate]" + tail
    )
    for profile in ("noise", "reuse"):  # calibrate (saves noise.json), then reuse it
        code, results = run_pair("--seed", "2", "--profile", profile, config=cfg)
        assert code == 1, results["errors"]
        kinds = _kinds(results)
        assert ("POST /items", "body:$.price", "value") in kinds  # the real change survives
        assert not any(loc == "body:$.requestId" for _, loc, _ in kinds)
        noise = [n for n in results["noise"] if n["location"] == "body:$.requestId"]
        assert noise
        assert noise[0]["suppressed"] > 0
        assert noise[0]["aa_rate"] > 0
        assert noise[0]["evidence"]
    assert (pair_dir / "noise.json").is_file()


@pytest.mark.parametrize(
    ("drift", "name"),
    [("orphan", "reviews_belong_to_items"), ("noevent", "one_event_per_item_write")],
)
def test_invariant_broken_on_one_side_is_a_finding(
    run_pair: RunPair, drift: str, name: str
) -> None:
    code, results = run_pair(
        "--seed", "2", "--profile", "inv", "--operation", "DELETE /items/{id}", drift=drift
    )
    assert code == 1
    assert "invariants" in results["config"]["phases"]
    # the broken invariant travels with the rows the same request wrote (one cause)
    found = [
        p
        for f in results["findings"]
        for p in f["locations"]
        if p["location"] == f"invariant:{name}"
    ]
    assert found, sorted(_kinds(results))
    assert found[0]["kind"] == "invariant"
    assert "broken on candidate only" in found[0]["summary"]
    assert any(i["name"] == name and i["target"] == "candidate" for i in results["invariants"])


def test_invariant_reading_through_the_api_catches_what_the_responses_do_not(
    run_pair: RunPair,
) -> None:
    """`value` drift: the candidate's GET /items/{id} upper-cases names. Only POST /items is
    exercised, so no compared response shows it; the invariant's read-back does."""
    code, results = run_pair(
        "--seed", "2", "--profile", "inv", "--operation", "POST /items", drift="value"
    )
    assert code == 1, results["errors"]
    assert {f["location"] for f in results["findings"]} == {"invariant:written_items_read_back"}
    assert "broken on candidate only" in results["findings"][0]["summary"]
    code, results = run_pair("--seed", "2", "--profile", "inv", "--operation", "POST /items")
    assert code == 0, results["findings"]
    by_name = {i["name"]: i for i in results["invariants"]}
    assert by_name["written_items_read_back"]["passed"]
    assert by_name["written_items_read_back"]["checks"] > 0


def test_invariants_a_run_never_reached_are_not_checked_rather_than_held(
    run_pair: RunPair, pair_dir: Path
) -> None:
    """A run aimed at a read writes nothing once growth is off, so no invariant is checked;
    with growth on (the default), the list is grown through its create and they are."""
    code, results = run_pair("--seed", "2", "--profile", "inv", "--operation", "GET /items")
    assert code == 0, results["findings"]
    assert any(i["checks"] for i in results["invariants"]), "growth wrote rows: checked"
    notes = results["stats"]["notes"]
    assert any(n.startswith("growth GET /items") for n in notes), notes
    cfg = make_config(pair_dir)
    cfg.write_text(cfg.read_text().replace("[profiles.inv]", "[profiles.inv]\ngrowth_rows = 0"))
    code, results = run_pair(
        "--seed", "2", "--profile", "inv", "--operation", "GET /items", config=cfg
    )
    assert code == 0, results["findings"]
    assert results["invariants"], "every invariant is listed"
    assert all(i.get("skipped") and not i["checks"] for i in results["invariants"])
    assert all(i["message"].startswith("not checked") for i in results["invariants"])


def test_invariant_broken_on_both_sides_is_reported_against_the_legacy(
    run_pair: RunPair, pair_dir: Path
) -> None:
    cfg = make_config(pair_dir, drift="orphan")
    head, tail = cfg.read_text().split("[services.candidate]", 1)
    cfg.write_text(
        head.replace('PAIR_DRIFT = ""', 'PAIR_DRIFT = "orphan"') + "[services.candidate]" + tail
    )
    code, results = run_pair(
        "--seed", "2", "--profile", "inv", "--operation", "DELETE /items/{id}", config=cfg
    )
    assert code == 0  # the port agrees with the legacy, bug included
    both = [i for i in results["invariants"] if i["target"] == "both"]
    assert [i["name"] for i in both] == ["reviews_belong_to_items"]
    assert both[0]["against"] == "legacy"
    assert both[0]["count"] > 0
    held = [i["name"] for i in results["invariants"] if i["passed"]]
    assert held, "every invariant checked is listed, the ones that held too"
    assert "reviews_belong_to_items" not in held


def test_probes_catch_framework_behaviour_the_contract_does_not_list(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "5", drift="slash")
    assert code == 1
    slashed = [f for f in results["findings"] if f["operation"].endswith("/")]
    assert slashed, sorted(_kinds(results))
    assert slashed[0]["kind"] == "status"
    assert slashed[0]["example"]["steps"][0]["request"]["path"].endswith("/")
    probes = next(op for op in results["operations"] if op["id"] == "probes")
    assert "405" in probes["status_codes"]["legacy"]  # undeclared methods were sent


def test_headers_are_compared_by_default_and_noise_is_learned(
    run_pair: RunPair, pair_dir: Path
) -> None:
    """No ``[compare] headers``: a changed Cache-Control is found; an x-request-id that
    varies on every answer of the legacy is learned (the health check asked twice) and is
    not reported, not even on a POST compared before any GET."""
    cfg = make_config(pair_dir, drift="cachecontrol,headernoise")
    head, tail = cfg.read_text().split("[services.candidate]", 1)
    head = head.replace('PAIR_DRIFT = ""', 'PAIR_DRIFT = "headernoise"')
    tail = tail.replace('headers = ["content-type", "location"]\n', "")
    cfg.write_text(head + "[services.candidate]" + tail)
    code, results = run_pair(
        "--seed", "3", "--operation", "POST /items", "--operation", "GET /items/{id}", config=cfg
    )
    assert code == 1, results["errors"]
    kinds = _kinds(results)
    assert ("GET /items/{id}", "header:cache-control", "header") in kinds
    assert not any(loc == "header:x-request-id" for _, loc, _ in kinds), sorted(kinds)
    notes = [n for n in results["stats"]["notes"] if "x-request-id" in n]
    assert notes, results["stats"]["notes"]
    assert "learned noise" in notes[0]
    finding = next(f for f in results["findings"] if f["location"] == "header:cache-control")
    assert "private, max-age=60" in finding["summary"]
    assert "no-store" in finding["summary"]
