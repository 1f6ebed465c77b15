"""The port's events, inbox, shares, chat, export, trending, pulse and predictions (issue 16)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backend.asof import end_of_day
from backend.clock import ms_iso, parse_ms, shift_days
from backend.routers.export import csv_field

# the port in-process on a database seeded by the legacy (npx tsx)
pytestmark = pytest.mark.integration

H = dict[str, dict[str, str]]


def rows(db_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql, params).fetchall())


def user_id(db_path: Path, email: str) -> int:
    return int(str(rows(db_path, "SELECT id FROM users WHERE email = ?", email)[0][0]))


def fresh_case(client: TestClient, auth: H) -> int:
    res = client.post(
        "/api/cases",
        headers=auth["admin"],
        json={
            "title": "Fresh",
            "channel": "chat",
            "category": "billing",
            "customerName": "Grace",
            "businessUnit": "retail",
        },
    )
    assert res.status_code == 201
    return int(res.json()["id"])


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1970-01-01T00:00:00.000Z", 0),
        ("2026-01-01T00:00:00Z", 1767225600000),
        ("2024-02-29T12:00:00.123456Z", 1709208000123),
        ("0000-01-01T00:00:00Z", -62167219200000),
    ],
)
def test_dates_as_javascript_parses_them(text: str, ms: int) -> None:
    assert parse_ms(text) == ms


def test_dates_as_javascript_prints_them() -> None:
    assert ms_iso(-62167219200000 - 7 * 86_400_000) == "-000001-12-25T00:00:00.000Z"
    assert shift_days("9999-12-31T23:59:59.999Z", 7) == "+010000-01-07T23:59:59.999Z"
    assert shift_days("2024-03-01T00:00:00.000Z", -1) == "2024-02-29T00:00:00.000Z"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (None, ""),
        (12, "12"),
        ("plain", "plain"),
        ('a "q"', '"a ""q"""'),
        ("a,b", '"a,b"'),
        ("x\r\ny", '"x\r\ny"'),
    ],
)
def test_csv_fields_quote_as_rfc_4180(value: str | int | None, field: str) -> None:
    assert csv_field(value) == field


def test_events_page_by_cursor_newest_first(client: TestClient, auth: H, db_path: Path) -> None:
    assert client.get("/api/events", headers=auth["agent"]).status_code == 403
    seen: list[int] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get("/api/events" + query, headers=auth["admin"]).json()
        seen += [e["id"] for e in body["data"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == [r[0] for r in rows(db_path, "SELECT id FROM events ORDER BY id DESC")]
    assert len(seen) >= 4  # a login per test user
    bad = client.get("/api/events?cursor=%%%", headers=auth["admin"]).json()
    assert bad["issues"] == [{"path": "cursor", "code": "custom", "message": "Invalid cursor"}]


def test_assignment_notifies_and_read_sets_read_at_once(
    client: TestClient, auth: H, db_path: Path
) -> None:
    case_id = fresh_case(client, auth)
    agent = user_id(db_path, "agent.retail@example.test")
    res = client.post(
        f"/api/cases/{case_id}/assign", headers=auth["admin"], json={"assigneeId": agent}
    )
    assert res.status_code == 200
    inbox = client.get("/api/inbox?unread=true", headers=auth["agent"]).json()
    note = inbox["data"][0]
    assert (note["kind"], note["caseId"], note["readAt"]) == ("assignment", case_id, None)
    assert client.post(f"/api/inbox/{note['id']}/read", headers=auth["admin"]).status_code == 404
    first = client.post(f"/api/inbox/{note['id']}/read", headers=auth["agent"]).json()
    again = client.post(f"/api/inbox/{note['id']}/read", headers=auth["agent"]).json()
    assert first["readAt"] is not None
    assert again["readAt"] == first["readAt"]
    after = client.get("/api/inbox", headers=auth["agent"]).json()
    assert after["unreadCount"] == inbox["unreadCount"] - 1


def test_share_rules(client: TestClient, auth: H) -> None:
    case_id = fresh_case(client, auth)
    for shared_with, message in [
        ("nobody@example.test", "Unknown recipient"),
        ("agent.retail@example.test", "Cannot share with yourself"),
        ("viewer.smb@example.test", "Recipient cannot see this case"),
    ]:
        res = client.post(
            "/api/shares",
            headers=auth["agent"],
            json={"caseId": case_id, "sharedWith": shared_with},
        )
        assert res.json()["issues"] == [
            {"path": "sharedWith", "code": "custom", "message": message}
        ]
    ok = client.post(
        "/api/shares",
        headers=auth["agent"],
        json={"caseId": case_id, "sharedWith": "Viewer.Retail@example.test"},
    )
    assert ok.status_code == 201
    assert ok.json()["sharedWith"] == "viewer.retail@example.test"
    assert ok.json()["note"] is None
    inbox = client.get("/api/inbox", headers=auth["viewer"]).json()
    assert (inbox["data"][0]["kind"], inbox["data"][0]["caseId"]) == ("share", case_id)
    listed = client.get(f"/api/cases/{case_id}/shares", headers=auth["viewer"]).json()
    assert [s["id"] for s in listed["data"]] == [ok.json()["id"]]


def test_chat_after_and_closed(client: TestClient, auth: H) -> None:
    case_id = fresh_case(client, auth)
    first = client.post(f"/api/cases/{case_id}/chat", headers=auth["agent"], json={"body": "one"})
    second = client.post(f"/api/cases/{case_id}/chat", headers=auth["admin"], json={"body": "two"})
    newer = client.get(
        f"/api/cases/{case_id}/chat?after={first.json()['id']}", headers=auth["viewer"]
    )
    assert [m["id"] for m in newer.json()["data"]] == [second.json()["id"]]
    client.patch(f"/api/cases/{case_id}", headers=auth["admin"], json={"status": "closed"})
    closed = client.post(f"/api/cases/{case_id}/chat", headers=auth["agent"], json={"body": "x"})
    assert (closed.status_code, closed.json()["message"]) == (409, "Case is closed")


def test_export_csv_and_json(client: TestClient, auth: H) -> None:
    created = client.post(
        "/api/cases",
        headers=auth["agent"],
        json={
            "title": 'Says "hi", twice\nreally',
            "channel": "web",
            "category": "quoting",
            "customerName": "Ada",
            "metadata": {"a": [1, 2.5]},
        },
    ).json()
    res = client.get("/api/export?resource=cases&category=QUOTING", headers=auth["agent"])
    assert res.headers["content-type"] == "text/csv; charset=utf-8"
    assert res.text == (
        "id,title,description,channel,status,category,priority,businessUnit,customerName,"
        "assigneeId,metadata,createdAt,updatedAt\r\n"
        f'{created["id"]},"Says ""hi"", twice\nreally",,web,open,quoting,medium,retail,Ada,,'
        f'"{{""a"":[1,2.5]}}",{created["createdAt"]},{created["updatedAt"]}\r\n'
    )
    as_json = client.get("/api/export?resource=alerts&format=json", headers=auth["viewer"])
    listed = client.get("/api/alerts?limit=100", headers=auth["viewer"]).json()
    assert as_json.json() == listed["data"][: len(as_json.json())]
    assert len(as_json.json()) == listed["total"]
    bad = client.get("/api/export?resource=users&severity=loud", headers=auth["admin"]).json()
    assert [i["path"] for i in bad["issues"]] == ["resource"]


def test_trending_compute_and_topic(client: TestClient, auth: H, db_path: Path) -> None:
    assert client.post("/api/trending/compute", headers=auth["agent"], json={}).status_code == 403
    as_of = "2025-12-20T00:00:00.000Z"
    res = client.post(
        "/api/trending/compute", headers=auth["admin"], json={"asOf": as_of, "days": 30}
    ).json()
    weight = {"low": 1, "medium": 2, "high": 3, "urgent": 5}
    expected: dict[str, int] = {}
    for topic, priority, created in rows(
        db_path,
        "SELECT lower(category), priority, created_at FROM cases "
        "WHERE created_at > '2025-11-20T00:00:00.000Z' AND created_at <= ?",
        as_of,
    ):
        age = (parse_ms(as_of) - parse_ms(str(created))) // 86_400_000
        expected[str(topic)] = expected.get(str(topic), 0) + weight[str(priority)] * (30 - age)
    assert {t["topic"]: t["score"] for t in res["data"]} == expected
    top = res["data"][0]
    one = client.get(f"/api/trending/{top['topic']}", headers=auth["admin"]).json()
    assert [c["id"] for c in one["samples"]] == top["sampleCaseIds"]
    assert client.get("/api/trending/compute", headers=auth["admin"]).status_code == 405


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/trending/a%2Fb", 404),  # one segment "a/b": the topic route, not the catch-all
        ("/api/trending/%E0", 500),  # decodeURIComponent throws: Next.js's bare 500
        ("/api/nope%zz", 500),
    ],
)
def test_paths_read_as_next_reads_them(client: TestClient, auth: H, path: str, status: int) -> None:
    res = client.get(path, headers=auth["admin"])
    assert res.status_code == status
    if status == 404:
        assert res.json()["message"] == "Topic not found"
    else:
        assert res.text == "Internal Server Error"


def test_pulse_and_predictions_take_now_from_the_data(
    client: TestClient, auth: H, db_path: Path
) -> None:
    newest = str(rows(db_path, "SELECT max(created_at) FROM cases")[0][0])
    latest = end_of_day(newest)
    assert latest.endswith("T00:00:00.000Z")
    assert 0 <= parse_ms(latest) - parse_ms(newest) < 86_400_000
    pulse = client.get("/api/pulse?days=30", headers=auth["agent_smb"]).json()
    assert pulse["asOf"] == latest
    opened = rows(
        db_path,
        "SELECT count(*) FROM cases WHERE created_at > ? AND created_at <= ? "
        "AND business_unit = 'smb'",
        shift_days(latest, -30),
        latest,
    )[0][0]
    assert pulse["cases"]["opened"] == opened == sum(pulse["cases"]["byChannel"].values())
    pred = client.get(
        "/api/predictions?weeks=3&asOf=2025-12-31T00:00:00Z", headers=auth["admin"]
    ).json()
    for channel in pred["channels"]:
        a, b, c = channel["history"]
        assert channel["predicted"] == (2 * (a + 2 * b + 3 * c) + 6) // 12
    assert pred["total"] == sum(c["predicted"] for c in pred["channels"])


@pytest.mark.parametrize(
    ("newest", "now"),
    [
        ("2025-12-31T20:00:00.000Z", "2026-01-01T00:00:00.000Z"),
        ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"),
        ("2026-01-01T00:00:00.001Z", "2026-01-02T00:00:00.000Z"),
    ],
)
def test_the_default_now_is_the_end_of_the_newest_cases_day(newest: str, now: str) -> None:
    assert end_of_day(newest) == now
