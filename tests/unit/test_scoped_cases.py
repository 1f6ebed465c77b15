"""Scoped cases: values only in one scope's rows (or only in rows without one) sent as each
role, alone and with the scope's filter at the role's scope and at the value's; id fields at
ids of rows the sending role can and cannot see (``harness.run.datacases.scoped_cases``)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.cases.datavalues import ValueSource
from harness.cases.generation import build_request
from harness.models import Response
from harness.run.datacases import scoped_cases
from harness.setup.contract import load_contract
from tests.unit.test_datavalues import _tenant_db

_CONTRACT = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/api/tickets": {
            "get": {
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "team", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 50}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/api/notes": {
            "get": {
                "parameters": [
                    {"name": "ticketId", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


def _ctx(tmp_path: Path, budget: int, shown: dict[str, list[int]]) -> Any:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(_CONTRACT))
    contract = load_contract(path)
    db = _tenant_db(tmp_path)
    source = ValueSource()
    source.learn_scoped(db)
    source.learn_roles(db, {"red": {"email": "a@x.test"}, "blue": {"email": "b@x.test"}})
    sent: list[Any] = []

    def send_one(key: str, req: Any) -> Response:
        sent.append((key, req))
        items = [{"id": i} for i in shown.get(req.role, [])]
        return Response(status=200, headers=(), body={"data": items}, text="", elapsed_ms=1.0)

    ctx = SimpleNamespace(
        profile=SimpleNamespace(scoped_values=budget),
        contract=contract,
        config=SimpleNamespace(fixture_rules=dict),
        roles=lambda: ["red", "blue"],
        stats=SimpleNamespace(notes=[]),
        pair=SimpleNamespace(send_one=send_one),
        _data_values=source,
        sent=sent,
    )
    return ctx


def _base(op: Any, query: tuple[tuple[str, str], ...]) -> Any:
    return build_request(
        operation=op.id,
        method=op.method,
        path=op.path,
        query=query,
        headers=(),
        role="red",
        mode="positive",
    )


def test_values_of_one_scope_with_and_without_the_scope_filter(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, 40, {})
    op = ctx.contract.get("GET /api/tickets")
    out = scoped_cases(ctx, op, [_base(op, (("q", "x"), ("limit", "3")))])
    got = [(c.role, dict(c.query)) for c in out]
    # the global row's text first, as each role, alone and filtered on the role's own team
    assert got[0] == ("red", {"q": "Global zephyr notice"})
    assert ("red", {"q": "Global zephyr notice", "team": "red"}) in got
    assert ("blue", {"q": "Global zephyr notice", "team": "blue"}) in got
    # a value only in blue's rows: sent by red alone, filtered on red and on blue
    assert ("red", {"q": "Nebula login"}) in got
    assert ("red", {"q": "Nebula login", "team": "red"}) in got
    assert ("red", {"q": "Nebula login", "team": "blue"}) in got
    # the barest case: optional parameters generated beside q are left out
    assert all("limit" not in q for _, q in got)
    assert any("scoped values GET /api/tickets" in n for n in ctx.stats.notes)
    assert len(scoped_cases(ctx, op, [_base(op, (("q", "x"),))])) == len(out)


def test_budget_and_switch(tmp_path: Path) -> None:
    op_id = "GET /api/tickets"
    ctx = _ctx(tmp_path, 5, {})
    op = ctx.contract.get(op_id)
    assert len(scoped_cases(ctx, op, [_base(op, (("q", "x"),))])) == 5
    (tmp_path / "off").mkdir()
    off = _ctx(tmp_path / "off", 0, {})  # the switch: a budget of 0
    assert scoped_cases(off, op, [_base(op, (("q", "x"),))]) == []


def test_ids_each_role_can_and_cannot_see(tmp_path: Path) -> None:
    # the list of tickets showed red tickets 1 and 3 only; blue 4
    ctx = _ctx(tmp_path, 40, {"red": [1, 3], "blue": [4]})
    op = ctx.contract.get("GET /api/notes")
    out = scoped_cases(ctx, op, [_base(op, ())])
    by_role: dict[str, list[str]] = {}
    for case in out:
        by_role.setdefault(case.role, []).append(dict(case.query)["ticketId"])
    # a row the role cannot see first, then one it can
    assert by_role["red"][0] in {"2", "4", "6"}
    assert "1" in by_role["red"] or "3" in by_role["red"]
    assert by_role["blue"][0] in {"1", "3", "5"}
    assert "4" in by_role["blue"]
    # the list was asked once per role, on the legacy
    asked = [(k, r.role, r.operation) for k, r in ctx.sent]
    assert asked == [("legacy", "red", "GET /api/tickets"), ("legacy", "blue", "GET /api/tickets")]


def test_rows_without_a_list_take_the_snapshot_scopes(tmp_path: Path) -> None:
    from harness.run.phases.rows import _snapshot_visible

    ctx = _ctx(tmp_path, 12, {})
    op = SimpleNamespace(
        path="/api/v2/tickets/{ticketId}/close", id="POST /api/v2/tickets/{ticketId}/close"
    )
    got = _snapshot_visible(ctx, op, "ticketId", ["red", "blue", None])
    red = dict(got["red"])
    assert {k for k, v in red.items() if v == "scoped in (snapshot)"} <= {1, 3, 5}
    assert {k for k, v in red.items() if v == "scoped out (snapshot)"} <= {2, 4, 6}
    assert "scoped out (snapshot)" in red.values()
    assert None not in got  # anonymous: no user row, nothing to tell
    ctx.profile.scoped_values = 0
    assert _snapshot_visible(ctx, op, "ticketId", ["red"]) == {}


def test_cases_note_the_values_they_took_from_a_users_data(tmp_path: Path) -> None:
    from harness.cases.masking import mask_request

    ctx = _ctx(tmp_path, 40, {"red": [1, 3], "blue": [4]})
    ctx._data_values.private = True  # learned from a user's database (URL mode)
    op = ctx.contract.get("GET /api/tickets")
    out = scoped_cases(ctx, op, [_base(op, (("q", "x"),))])
    (mark,) = out[0].data_values
    assert (mark.location, mark.keys, mark.private) == ("query", ("q",), True)
    assert mark.origin.startswith("db:")
    filtered = next(c for c in out if "team" in dict(c.query))
    assert {d.keys for d in filtered.data_values} == {("q",), ("team",)}
    table = filtered.data_values[0].origin.removeprefix("db:").split(".")[0]
    shown = dict(mask_request(filtered).query)
    assert shown["q"].startswith(f"<data:{table}.")
    assert shown["team"] == f"<data:{table}.team>"  # the scope filter's value: the data's too
    # ids: one a list answer showed is the service's own; one only the data holds is noted
    op = ctx.contract.get("GET /api/notes")
    ids = scoped_cases(ctx, op, [_base(op, ())])
    noted = {dict(c.query)["ticketId"]: bool(c.data_values) for c in ids}
    assert noted, ids
    assert all(tagged == (value not in {"1", "3", "4"}) for value, tagged in noted.items())
    assert any(noted.values())
    # a managed snapshot's values: noted, never private
    (tmp_path / "managed").mkdir()
    managed = _ctx(tmp_path / "managed", 40, {})
    op = managed.contract.get("GET /api/tickets")
    out = scoped_cases(managed, op, [_base(op, (("q", "x"),))])
    assert out[0].data_values
    assert not any(d.private for c in out for d in c.data_values)
    assert mask_request(out[0]) is out[0]


def test_rows_path_ids_from_the_data_are_noted(tmp_path: Path) -> None:
    from harness.cases.sequences import fill
    from harness.run.phases.rows import _snapshot_visible, _tag_snapshot_ids

    ctx = _ctx(tmp_path, 12, {})
    ctx._data_values.private = True
    path = "/api/v2/tickets/{ticketId}/close"
    op = SimpleNamespace(path=path, id=f"POST {path}", method="POST")
    visible = _snapshot_visible(ctx, op, "ticketId", ["red", "blue"])
    base = build_request(
        operation=op.id, method="POST", path=path, query=(), headers=(), role="red", mode="x"
    )
    cases = [fill(base, path, {"ticketId": v}) for v, _ in visible["red"]]
    cases.append(fill(base, path, {"ticketId": 999}))  # not from the data
    tagged = _tag_snapshot_ids(ctx, op, "ticketId", visible, cases)
    assert [bool(c.data_values) for c in tagged] == [True] * (len(cases) - 1) + [False]
    assert tagged[0].data_values[0].origin == "db:tickets.id"
    assert tagged[0].data_values[0].private
