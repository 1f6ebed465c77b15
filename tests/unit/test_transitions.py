"""The transition sequence builder (issue 26): which plans a contract yields, and the order a
plan is sent in (create, transitions, the item, the reads filtered on the new and old state),
each side's id taken from its own create."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.cases.generation import build_request
from harness.cases.sequences import StatefulRunner
from harness.cases.transitions import (
    FilteredRead,
    Transition,
    TransitionRunner,
    transition_plans,
)
from harness.models import ExchangeResult, PreparedRequest, Response
from harness.setup.contract import Contract, load_contract

ROOT = Path(__file__).resolve().parents[2]

TICKETS = textwrap.dedent(
    """
    openapi: 3.0.3
    info: {title: tickets, version: "1"}
    components:
      schemas:
        State: {type: string, enum: [new, open, done]}
        Ticket:
          type: object
          properties:
            id: {type: integer}
            title: {type: string}
            state: {$ref: "#/components/schemas/State"}
            kind: {type: string, enum: [bug, task]}
    paths:
      /tickets:
        get:
          operationId: listTickets
          parameters:
            - {name: state, in: query, schema: {$ref: "#/components/schemas/State"}}
            - {name: kind, in: query, schema: {type: string, enum: [bug, story]}}
          responses: {"200": {description: ok}}
        post:
          operationId: createTicket
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {title: {type: string}}}
          responses:
            "201":
              description: created
              content:
                application/json: {schema: {$ref: "#/components/schemas/Ticket"}}
      /tickets/{ticketId}:
        parameters:
          - {name: ticketId, in: path, required: true, schema: {type: integer}}
        get:
          operationId: getTicket
          responses: {"200": {description: ok}}
        patch:
          operationId: editTicket
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    state: {$ref: "#/components/schemas/State"}
                    title: {type: string}
          responses: {"200": {description: ok}}
        delete:
          operationId: dropTicket
          responses: {"204": {description: gone}}
      /tickets/{ticketId}/close:
        parameters:
          - {name: ticketId, in: path, required: true, schema: {type: integer}}
        post:
          operationId: closeTicket
          responses:
            "200":
              description: closed
              content:
                application/json: {schema: {$ref: "#/components/schemas/Ticket"}}
      /tickets/{ticketId}/notes:
        parameters:
          - {name: ticketId, in: path, required: true, schema: {type: integer}}
        post:
          operationId: addNote
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {text: {type: string}}}
          responses:
            "201":
              description: noted
              content:
                application/json:
                  schema: {type: object, properties: {id: {type: integer}, text: {type: string}}}
      /users:
        post:
          operationId: createUser
          responses:
            "201":
              description: created
              content:
                application/json:
                  schema:
                    type: object
                    properties: {id: {type: integer}, role: {type: string, enum: [a, b]}}
      /users/{userId}/role:
        parameters:
          - {name: userId, in: path, required: true, schema: {type: integer}}
        put:
          operationId: setRole
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {role: {type: string, enum: [a, b]}}}
          responses: {"200": {description: ok}}
    """
)


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> Contract:
    path = tmp_path_factory.mktemp("tickets") / "openapi.yaml"
    path.write_text(TICKETS)
    return load_contract(path)


def test_plans_follow_the_row_id_the_state_fields_and_the_filters(tickets: Contract) -> None:
    plans = transition_plans(tickets, {op.id for op in tickets.operations})
    # /users: its role enum has no list filtering on it, so no plan
    assert [p.create for p in plans] == ["POST /tickets"]
    plan = plans[0]
    assert plan.id_param == "ticketId"  # named after the resource
    assert plan.id_expr == "$response.body#/id"
    assert plan.item == "GET /tickets/{ticketId}"
    assert set(plan.transitions) == {
        Transition("PATCH /tickets/{ticketId}", "state", ("new", "open", "done")),
        Transition("POST /tickets/{ticketId}/close", ""),  # the state as its answer says
    }
    # kind's enum differs from the filter's: not a state the list filters on; no notes, no
    # delete among the transitions
    assert plan.reads == (FilteredRead("GET /tickets", "state", "state"),)
    assert plan.fields == ["state"]


def test_a_plan_needs_its_operations_selected(tickets: Contract) -> None:
    assert transition_plans(tickets, {"POST /tickets", "GET /tickets"}) == []
    assert transition_plans(tickets, {"POST /tickets", "PATCH /tickets/{ticketId}"}) == []


def test_the_shipped_contract_yields_alert_and_case_plans() -> None:
    contract = load_contract(ROOT / "contracts" / "openapi.yaml")
    plans = {p.create: p for p in transition_plans(contract, {o.id for o in contract.operations})}
    assert set(plans) == {"POST /api/alerts", "POST /api/cases"}
    alerts = plans["POST /api/alerts"]
    assert {t.operation for t in alerts.transitions} >= {
        "POST /api/alerts/{id}/acknowledge",
        "POST /api/alerts/{id}/resolve",
    }
    assert FilteredRead("GET /api/alerts", "status", "status") in alerts.reads
    cases = plans["POST /api/cases"]
    assert (
        Transition("PATCH /api/cases/{id}", "status", ("open", "in_progress", "resolved", "closed"))
        in cases.transitions
    )
    assert FilteredRead("GET /api/cases", "status", "status") in cases.reads


class Tickets:
    """An in-memory tickets service per side; the candidate's ids start elsewhere."""

    def __init__(self, first_id: int) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.next = first_id

    def handle(self, req: PreparedRequest) -> Response:
        parts = req.path.strip("/").split("/")
        body: Any = None
        status = 200
        if req.method == "POST" and parts == ["tickets"]:
            row = {"id": self.next, "title": "t", "state": "new", "kind": "bug"}
            self.rows[self.next] = row
            self.next += 1
            body, status = dict(row), 201
        elif req.method == "GET" and parts == ["tickets"]:
            state = dict(req.query).get("state")
            body = [r for r in self.rows.values() if state is None or r["state"] == state]
        else:
            row = self.rows.get(int(parts[1]))
            if row is None:
                return Response(404, (), None, "", 1.0)
            if req.method == "PATCH":
                row.update({k: v for k, v in req.body.items() if k in ("state", "title")})
            elif parts[-1] == "close":
                row["state"] = "done"
            body = dict(row)
        return Response(status, (), body, "", 1.0)


def test_a_sequence_creates_moves_then_reads_the_new_and_the_old_state(tickets: Contract) -> None:
    plans = transition_plans(tickets, {op.id for op in tickets.operations})
    legacy, candidate = Tickets(1), Tickets(50)
    sent: list[tuple[PreparedRequest, PreparedRequest]] = []
    resets: list[int] = []

    def send(lreq: PreparedRequest, creq: PreparedRequest) -> ExchangeResult:
        sent.append((lreq, creq))
        return ExchangeResult(lreq, legacy.handle(lreq), candidate.handle(creq), {}, {}, [])

    def pool(op_id: str) -> list[PreparedRequest]:
        method, path = op_id.split(" ", 1)
        concrete = path.replace("{ticketId}", "7")
        body = {"title": "x"} if method in ("POST", "PATCH") else None
        kwargs: dict[str, Any] = {} if body is None else {"json_body": body}
        req = build_request(
            operation=op_id,
            method=method,
            path=concrete,
            query=(),
            headers=(),
            role=None,
            mode="positive",
            **kwargs,
        )
        return [replace_params(req, path)]

    runner = StatefulRunner(
        tickets,
        {op.id for op in tickets.operations},
        pool,
        send,
        lambda: resets.append(1),
        lambda result: False,
        seed=3,
        max_steps=6,
    )
    outcome = TransitionRunner(runner, plans, 6).run(0, 0, ["agent"])
    assert outcome.failed_at is None
    assert not outcome.broken
    ops = [step.operation for step in outcome.steps]
    assert ops[0] == "POST /tickets"
    moves = [op for op in ops[1:] if op.startswith(("PATCH", "POST"))]
    assert moves
    assert ops.index("GET /tickets/{ticketId}") == 1 + len(moves)
    assert resets == [1]  # one restore, at the end: the state is kept between the steps
    # each side's id from its own create
    for lreq, creq in sent[1 : 1 + len(moves)]:
        assert lreq.path.split("/")[2] == "1"
        assert creq.path.split("/")[2] == "50"
    reads = [lreq for lreq, _ in sent if lreq.operation == "GET /tickets"]
    final = legacy.rows[1]["state"]
    assert reads[0].query == (("state", final),)  # the new state first
    if final != "new":
        assert ("state", "new") in [q for r in reads for q in r.query]  # then the created one
    # every step agreed and the row is listed under its new state on both sides
    last = outcome.results[ops.index("GET /tickets")]
    assert [r["id"] for r in last.legacy.body] == [1]
    assert [r["id"] for r in last.candidate.body] == [50]


def replace_params(req: PreparedRequest, template: str) -> PreparedRequest:
    from dataclasses import replace

    return replace(req, path_params=(("ticketId", "7"),) if "{ticketId}" in template else ())


def test_the_budget_its_switch_and_the_shard_units(tickets: Contract) -> None:
    from harness.run.partition import plan_units
    from harness.setup.config import Profile

    on = Profile(stateful_sequences=2, transition_sequences=3)
    assert on.transition_budget == 3
    assert on.sequence_count == 5
    off = Profile(stateful_sequences=2, transition_sequences=3, transitions=False)
    assert off.transition_budget == 0
    assert off.sequence_count == 2
    # the transition sequences number on after the random ones: a shard runs its share
    units = plan_units(tickets, tickets.operations, on, interop=False, history={})
    assert [u.key for u in units if u.kind == "sequence"] == ["0", "1", "2", "3", "4"]
    only = Profile(stateful_sequences=0, transition_sequences=2)
    units = plan_units(tickets, tickets.operations, only, interop=False, history={})
    assert [u.key for u in units if u.kind == "sequence"] == ["0", "1"]
