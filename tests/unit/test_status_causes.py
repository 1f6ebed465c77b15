"""Status differences split by cause (issue 28): two causes under one status pair are two
findings with their own examples; one cause whose message names another id each time stays
one; an accept rule for the status pair covers every cause; the split findings' ids are
versioned, so a previous run, accepted differences and merged shards still match them."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from harness.compare.comparison import compare_exchange, message_template, status_cause
from harness.compare.findings import Findings, finding_ids
from harness.compare.normalization import RuleSet
from harness.models import ExchangeResult, PreparedRequest, Response
from harness.setup.config import AcceptRule, CompareConfig

OP = "GET /n/{id}"


def _exchange(path: str, legacy: tuple[int, Any], candidate: tuple[int, Any]) -> ExchangeResult:
    req = PreparedRequest(OP, "GET", path, (), (), None, None, None, None, "positive")
    a = Response(legacy[0], (), legacy[1], "", 1.0)
    b = Response(candidate[0], (), candidate[1], "", 1.0)
    diffs = compare_exchange(a, b, None, None, RuleSet([], OP), CompareConfig(headers=[]))
    return ExchangeResult(req, a, b, None, None, diffs)


def _missing(n: int) -> ExchangeResult:
    """A note that does not exist: 404 on the legacy, 400 naming the id on the candidate."""
    return _exchange(
        f"/n/{n}", (404, {"error": "note not found"}), (400, {"detail": f"no note '{n}' (#{n})"})
    )


def _malformed(raw: str) -> ExchangeResult:
    """An id that is not a number: 404 and 400 too, but with another body on the candidate."""
    return _exchange(
        f"/n/{raw}",
        (404, {"error": "note not found"}),
        (400, {"errors": [{"field": "id", "message": "must be an integer"}]}),
    )


def test_two_causes_under_one_status_pair_are_two_findings_with_their_own_examples() -> None:
    findings = Findings(accept=[])
    for result in (_missing(7), _malformed("x"), _missing(8), _malformed("yy")):
        findings.record(result)
    groups = sorted(findings.groups.values(), key=lambda g: g.count)
    assert len(groups) == 2
    assert {g.location for g in groups} == {"status:404 vs 400"}  # the location stays the pair's
    assert len(findings.together()) == 2
    by_cause = {g.cause: g for g in groups}
    assert set(by_cause) == {
        "{error} -> {detail} · 'note not found' -> 'no note <v> (##)'",
        "{error} -> {errors} · 'note not found' -> 'must be an integer'",
    }
    for cause, group in by_cause.items():
        assert group.count == 2
        assert status_cause(group.example.legacy, group.example.candidate) == cause
    assert by_cause[groups[0].cause].example.candidate.body != groups[1].example.candidate.body


def test_the_same_cause_with_another_id_in_each_message_is_one_finding() -> None:
    findings = Findings(accept=[])
    for n in (1, 22, 333, 4444):
        findings.record(_missing(n))
    uuid = "5a3f2c1e-1111-2222-3333-444455556666"
    findings.record(
        _exchange(
            "/n/u", (404, {"error": "note not found"}), (400, {"detail": f"no note '{uuid}' (#9)"})
        )
    )
    (group,) = findings.groups.values()
    assert group.count == 5


def test_a_message_both_sides_give_names_the_input_not_the_cause() -> None:
    """Each side rejects the same bad field alike, only with another status: one cause,
    whichever field it is."""
    findings = Findings(accept=[])
    for field in ("title", "tags", "body"):
        message = f"{field} is invalid"
        findings.record(_exchange("/n/1", (400, {"error": message}), (422, {"error": message})))
    (group,) = findings.groups.values()
    assert group.count == 3
    assert group.cause == "{error} -> {error}"


def test_message_templates_drop_what_differs_per_request() -> None:
    assert message_template("note 'x1' not found (id 42)") == "note <v> not found (id #)"
    assert message_template("can't find note 7") == "can't find note #"
    assert message_template("request 9f86d081884c7d65 failed") == "request <id> failed"


def test_an_accept_rule_for_the_status_pair_covers_every_cause() -> None:
    rule = AcceptRule(
        operation=OP,
        location="status:404 vs 400",
        kind="status",
        reason="the port rejects unknown ids",
        expires=dt.date.today() + dt.timedelta(days=30),
    )
    findings = Findings(accept=[rule])
    for result in (_missing(7), _malformed("x")):
        findings.record(result)
    assert len(findings.groups) == 2
    assert all(g.accepted_by is rule for g in findings.groups.values())


def test_split_ids_are_versioned_and_name_the_unsplit_id() -> None:
    findings = Findings(accept=[])
    for result in (_missing(7), _malformed("x")):
        findings.record(result)
    unsplit = "f-" + hashlib.sha1(f"{OP}|status:404 vs 400|status".encode()).hexdigest()[:8]
    ids = [finding_ids(g) for g in findings.groups.values()]
    assert len({i for i, _ in ids}) == 2
    assert all(previous == [unsplit] for _, previous in ids)
    assert unsplit not in {i for i, _ in ids}
    # the same group in another phase: its own id, as before the split
    group = next(iter(findings.groups.values()))
    assert finding_ids(group, "stateful")[0] not in {i for i, _ in ids}


def _finding(fid: str, previous: list[str] | None = None) -> dict[str, Any]:
    return {"id": fid, "previous_ids": previous or [], "accepted": False}


def test_since_the_previous_run_matches_a_split_finding_by_its_previous_id() -> None:
    from harness.reporting.html import _changes

    before = {
        "run_id": "1",
        "verdict": "drift",
        "findings": [_finding("f-old"), _finding("f-gone")],
    }
    now = {"findings": [_finding("f-a", ["f-old"]), _finding("f-b", ["f-old"])]}
    changes = _changes(now, before)
    assert [f["id"] for f in changes["open"]] == ["f-a", "f-b"]
    assert changes["new"] == []
    assert [f["id"] for f in changes["fixed"]] == ["f-gone"]
    # both runs split: a cause the previous run did not have is new, whatever it shares
    again = {"run_id": "2", "verdict": "drift", "findings": [_finding("f-a", ["f-old"])]}
    changes = _changes(now, again)
    assert [f["id"] for f in changes["new"]] == ["f-b"]
    assert [f["id"] for f in changes["open"]] == ["f-a"]


def test_merged_shards_keep_two_causes_of_one_status_pair_apart() -> None:
    from harness.reporting.results import Finding
    from harness.scale.merge import fold_causes

    def finding(phase: str, op: str, cause: str, candidate: Any) -> Finding:
        step = {
            "request": {"method": "GET", "path": "/", "query": {}, "headers": {}, "role": None,
                        "mode": "probe" if phase == "probes" else "positive"},
            "legacy": {"status": 404, "headers": {}, "body": {"error": "x"}, "elapsed_ms": 1.0},
            "candidate": {"status": 400, "headers": {}, "body": candidate, "elapsed_ms": 1.0},
            "curl": {},
        }  # fmt: skip
        place = {"location": "status:404 vs 400", "cause": cause, "kind": "status", "count": 1,
                 "summary": "s"}  # fmt: skip
        return Finding.model_validate(
            {
                "id": f"f-{phase}{op}{cause}", "phase": phase, "operation": op,
                "location": "status:404 vs 400", "cause": cause, "kind": "status",
                "summary": "s", "count": 1, "accepted": False, "accepted_reason": None,
                "accepted_expires": None, "locations": [place],
                "example": {"steps": [step], "diff": [], "other_diffs": [], "db_writes": {}},
            }
        )  # fmt: skip

    folded = fold_causes(
        [
            finding("stateless", OP, "{error} -> {detail}", {"detail": "d"}),
            finding("stateless", OP, "{error} -> {errors}", {"errors": []}),
            finding("stateful", OP, "{error} -> {errors}", {"errors": []}),
            finding("probes", "GET /n/", "{error} -> {detail}", {"detail": "d"}),
        ]
    )
    assert [(f.phase, f.cause) for f in folded] == [
        ("stateless", "{error} -> {detail}"),
        ("stateless", "{error} -> {errors}"),
    ]
    assert folded[0].phases == ["probes", "stateless"]
    assert folded[1].phases == ["stateful", "stateless"]
