"""The port through its ASGI app: roles, unit scoping, every error, the bad inputs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

# the port in-process on a database seeded by the legacy (npx tsx)
pytestmark = pytest.mark.integration

H = dict[str, dict[str, str]]
CASE = {
    "title": "Printer on fire",
    "channel": "phone",
    "category": "technical",
    "customerName": "Ada",
}


def events(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_health_and_docs_do_not_shadow_the_contract(client: TestClient) -> None:
    res = client.get("/api/health")
    assert res.status_code == 200
    assert res.json()["status"] == "ok"
    assert client.get("/_port/openapi.json").status_code == 200
    assert client.get("/openapi.json").status_code != 200


def test_login_cookie_and_me(client: TestClient) -> None:
    res = client.post(
        "/api/auth/login", json={"email": "ADMIN@example.test", "password": "parity-admin"}
    )
    assert res.status_code == 200
    cookie = res.headers["set-cookie"]
    assert cookie.startswith(f"session={res.json()['token']}; Path=/; Expires=")
    assert cookie.endswith("; Max-Age=604800; HttpOnly; SameSite=lax")
    me = client.get("/api/auth/me", headers={"cookie": f"session={res.json()['token']}"})
    assert me.json()["user"]["email"] == "admin@example.test"


@pytest.mark.parametrize(
    "body",
    [{"email": "admin@example.test", "password": "wrong"}, {"email": "nobody@x", "password": "x"}],
)
def test_bad_credentials(client: TestClient, body: dict[str, str]) -> None:
    res = client.post("/api/auth/login", json=body)
    assert res.status_code == 401
    assert res.json() == {"error": "invalid_credentials", "message": "Invalid email or password"}


def test_missing_expired_and_logged_out_sessions(
    client: TestClient, auth: H, db_path: Path
) -> None:
    assert client.get("/api/cases").json() == {
        "error": "unauthorized",
        "message": "Authentication required",
    }
    assert client.get("/api/cases", headers={"cookie": "session=%E0"}).status_code == 401
    assert client.post("/api/auth/logout", headers=auth["viewer"]).json() == {"ok": True}
    assert client.get("/api/auth/me", headers=auth["viewer"]).status_code == 401
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'")
    assert client.get("/api/auth/me", headers=auth["admin"]).status_code == 401


def test_zod_issues_in_order(client: TestClient, auth: H) -> None:
    res = client.post(
        "/api/cases",
        headers=auth["admin"],
        json={"title": 5, "channel": "fax", "category": "", "priority": "HIGH", "metadata": [1]},
    )
    assert res.status_code == 400
    assert res.json() == {
        "error": "validation_error",
        "message": "Invalid request",
        "issues": [
            {
                "path": "title",
                "code": "invalid_type",
                "message": "Invalid input: expected string, received number",
            },
            {
                "path": "channel",
                "code": "invalid_value",
                "message": 'Invalid option: expected one of "email"|"chat"|"phone"|"social"|"web"',
            },
            {
                "path": "category",
                "code": "too_small",
                "message": "Too small: expected string to have >=1 characters",
            },
            {
                "path": "priority",
                "code": "invalid_value",
                "message": 'Invalid option: expected one of "low"|"medium"|"high"|"urgent"',
            },
            {
                "path": "customerName",
                "code": "invalid_type",
                "message": "Invalid input: expected string, received undefined",
            },
            {
                "path": "metadata",
                "code": "invalid_type",
                "message": "Invalid input: expected record, received array",
            },
        ],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{bad", None),
        (b"", None),
        (b"NaN", None),
        (b"[1]", "Invalid input: expected object, received array"),
        (b"null", "Invalid input: expected object, received null"),
    ],
)
def test_malformed_bodies(client: TestClient, auth: H, content: bytes, message: str | None) -> None:
    res = client.post(
        "/api/cases", headers={**auth["admin"], "content-type": "application/json"}, content=content
    )
    assert res.status_code == 400
    if message is None:
        assert res.json() == {"error": "invalid_json", "message": "Request body must be valid JSON"}
    else:
        assert res.json()["issues"][0]["message"] == message


@pytest.mark.parametrize(
    ("query", "issues"),
    [
        ("limit=0", [("limit", "Too small: expected number to be >=1")]),
        ("limit=", [("limit", "Too small: expected number to be >=1")]),
        ("limit=abc", [("limit", "Invalid input: expected number, received NaN")]),
        ("limit=Infinity", [("limit", "Invalid input: expected number, received Infinity")]),
        ("limit=1.5", [("limit", "Invalid input: expected int, received number")]),
        ("limit=1_0", [("limit", "Invalid input: expected number, received NaN")]),
        ("offset=-1", [("offset", "Too small: expected number to be >=0")]),
        (
            "limit=99999999999999999999",
            [
                ("limit", "Too big: expected int to be <=9007199254740991"),
                ("limit", "Too big: expected number to be <=100"),
            ],
        ),
    ],
)
def test_query_coercion_like_number(
    client: TestClient, auth: H, query: str, issues: list[tuple[str, str]]
) -> None:
    res = client.get(f"/api/alerts?{query}", headers=auth["admin"])
    assert res.status_code == 400
    assert [(i["path"], i["message"]) for i in res.json()["issues"]] == issues


@pytest.mark.parametrize("query", ["limit=1e1", "limit=%200x10%20", "limit=0b11", "limit=5."])
def test_query_numbers_javascript_accepts(client: TestClient, auth: H, query: str) -> None:
    assert client.get(f"/api/alerts?{query}", headers=auth["admin"]).status_code == 200


def test_path_ids(client: TestClient, auth: H) -> None:
    assert client.get("/api/cases/1.0", headers=auth["admin"]).json()["id"] == 1
    res = client.get("/api/cases/abc", headers=auth["admin"])
    assert res.json()["issues"][0]["message"] == "Invalid input: expected number, received NaN"
    assert client.get("/api/cases/0", headers=auth["admin"]).status_code == 400
    assert client.get("/api/cases/99999", headers=auth["admin"]).json() == {
        "error": "not_found",
        "message": "Case not found",
    }


def test_roles_and_events(client: TestClient, auth: H, db_path: Path) -> None:
    before = events(db_path)
    assert client.post("/api/cases", headers=auth["viewer"], json=CASE).status_code == 403
    assert client.post("/api/alerts", headers=auth["agent"], json={}).status_code == 403
    assert events(db_path) == before
    made = client.post("/api/cases", headers=auth["agent"], json=CASE)
    assert made.status_code == 201
    assert made.json()["businessUnit"] == "retail"
    assert "metadata" not in made.json()
    assert events(db_path) == before + 1
    assert (
        client.delete(f"/api/cases/{made.json()['id']}", headers=auth["agent"]).status_code == 403
    )
    assert (
        client.delete(f"/api/cases/{made.json()['id']}", headers=auth["admin"]).status_code == 204
    )
    assert events(db_path) == before + 2


def test_business_unit_scoping(client: TestClient, auth: H) -> None:
    data = client.get("/api/alerts?limit=100", headers=auth["agent_smb"]).json()["data"]
    assert data
    assert all(a["businessUnit"] == "smb" for a in data)
    retail = client.get("/api/cases?businessUnit=retail", headers=auth["admin"]).json()["data"]
    other = client.get(f"/api/cases/{retail[0]['id']}", headers=auth["agent_smb"])
    assert other.status_code == 404
    assert (
        client.post(
            "/api/cases", headers=auth["agent_smb"], json={**CASE, "businessUnit": "retail"}
        ).status_code
        == 403
    )


def test_case_rules(client: TestClient, auth: H) -> None:
    cid = client.post("/api/cases", headers=auth["agent"], json=CASE).json()["id"]
    assert (
        client.patch(f"/api/cases/{cid}", headers=auth["agent"], json={}).json()["issues"][0][
            "message"
        ]
        == "At least one field is required"
    )
    assigned = client.post(
        f"/api/cases/{cid}/assign", headers=auth["agent"], json={"assigneeId": 2}
    )
    assert assigned.json()["status"] == "in_progress"
    assert (
        client.post(
            f"/api/cases/{cid}/assign", headers=auth["agent"], json={"assigneeId": 5}
        ).status_code
        == 400
    )
    client.patch(f"/api/cases/{cid}", headers=auth["agent"], json={"status": "closed"})
    assert (
        client.patch(f"/api/cases/{cid}", headers=auth["agent"], json={"title": "x"}).status_code
        == 409
    )
    assert (
        client.patch(
            f"/api/cases/{cid}", headers=auth["agent"], json={"status": "open"}
        ).status_code
        == 200
    )


def test_alert_transitions(client: TestClient, auth: H) -> None:
    aid = client.post(
        "/api/alerts",
        headers=auth["admin"],
        json={"title": "t", "message": "m", "severity": "info"},
    ).json()["id"]
    assert (
        client.post(f"/api/alerts/{aid}/acknowledge", headers=auth["agent"]).json()["status"]
        == "acknowledged"
    )
    assert client.post(f"/api/alerts/{aid}/acknowledge", headers=auth["agent"]).status_code == 409
    assert client.post(f"/api/alerts/{aid}/resolve", headers=auth["admin"]).status_code == 200
    assert (
        client.post(f"/api/alerts/{aid}/resolve", headers=auth["admin"]).json()["message"]
        == "Alert is already resolved"
    )


@pytest.mark.parametrize(
    "q", ['"unbalanced', "AND OR NOT", "NEAR(a b", "*", "'; DROP TABLE cases; --", "a:b", "😀"]
)
def test_search_never_500s(client: TestClient, auth: H, q: str) -> None:
    res = client.get("/api/search", params={"q": q}, headers=auth["admin"])
    assert res.status_code == 200
    assert client.get("/api/cases?pageSize=1", headers=auth["admin"]).status_code == 200


def test_search_records_analytics(client: TestClient, auth: H) -> None:
    found = client.get("/api/search", params={"q": "refund"}, headers=auth["admin"]).json()
    scores = [r["score"] for r in found["results"]]
    assert scores == sorted(scores)
    stats = client.get("/api/search/analytics", headers=auth["admin"]).json()
    assert stats["totalSearches"] == 1
    assert stats["popular"] == [{"query": "refund", "count": 1}]


def test_feed_cursor_and_cleanup(client: TestClient, auth: H) -> None:
    first = client.get("/api/feed?limit=4", headers=auth["admin"]).json()
    second = client.get(
        f"/api/feed?limit=4&cursor={first['nextCursor']}", headers=auth["admin"]
    ).json()
    assert not {f["id"] for f in first["data"]} & {f["id"] for f in second["data"]}
    assert client.get("/api/feed?cursor=zzz", headers=auth["admin"]).status_code == 400
    assert (
        client.post(
            "/api/feed",
            headers=auth["agent"],
            json={"kind": "trend", "title": "t", "businessUnit": None},
        ).status_code
        == 403
    )
    assert client.post("/api/feed/cleanup", headers=auth["admin"]).json()["deleted"] > 0


def test_upload_semantics(client: TestClient, auth: H) -> None:
    csv = "\ufefftitle,channel,category,customerName\r\nGood,email,b,Ann\r\nBad,fax,b,Bob\r\n"
    res = client.post(
        "/api/upload", headers=auth["agent"], files={"file": ("c.csv", csv.encode(), "text/csv")}
    )
    assert res.status_code == 201
    body = res.json()
    assert (body["upload"]["rowsImported"], body["upload"]["rowsRejected"]) == (1, 1)
    assert body["errors"] == [
        {
            "row": 3,
            "field": "channel",
            "message": 'Invalid option: expected one of "email"|"chat"|"phone"|"social"|"web"',
        }
    ]
    big = b"a" * (5 * 1024 * 1024 + 1)
    assert (
        client.post(
            "/api/upload", headers=auth["admin"], files={"file": ("b.csv", big, "text/csv")}
        ).status_code
        == 413
    )
    assert (
        client.post(
            "/api/upload",
            headers=auth["admin"],
            files={"file": ("../../etc/passwd", b"x", "text/csv")},
        ).status_code
        == 415
    )
    assert client.post("/api/upload", headers=auth["admin"], json={"a": 1}).status_code == 415
    failed = client.post(
        "/api/upload", headers=auth["admin"], files={"file": ("x.csv", b"nope\n1\n", "text/csv")}
    ).json()
    assert failed["upload"]["status"] == "failed"


def test_next_framework_behaviour(client: TestClient, auth: H) -> None:
    slash = client.get("/api/cases/?page=2", headers=auth["admin"])
    assert (slash.status_code, slash.headers["location"]) == (308, "/api/cases?page=2")
    not_allowed = client.put("/api/alerts", headers=auth["admin"])
    assert (not_allowed.status_code, not_allowed.content) == (405, b"")
    assert client.get("/api/nope", headers=auth["admin"]).json() == {
        "error": "not_found",
        "message": "Not found",
    }


def test_a_fraction_fails_the_int_check_alone(client: TestClient, auth: H) -> None:
    # found by parity: zod's int check aborts, so no bound is reported for 0.5 or -0.5
    res = client.get("/api/alerts?limit=0.5&offset=-0.5", headers=auth["admin"])
    assert [(i["path"], i["code"]) for i in res.json()["issues"]] == [
        ("limit", "invalid_type"),
        ("offset", "invalid_type"),
    ]


def test_an_array_where_a_string_goes_also_fails_the_length_check(
    client: TestClient, auth: H
) -> None:
    # found by parity's mutant runs: zod 4 runs .min() on anything with a length
    res = client.post("/api/feed", headers=auth["admin"], json={"kind": "trend", "title": []})
    assert [(i["path"], i["message"]) for i in res.json()["issues"]] == [
        ("title", "Invalid input: expected string, received array"),
        ("title", "Too small: expected array to have >=1 items"),
    ]


@pytest.mark.parametrize(
    ("method", "path"), [("DELETE", "/api/alerts/count"), ("PUT", "/api/cases/5/assign")]
)
def test_static_route_files_win_before_the_method(
    client: TestClient, auth: H, method: str, path: str
) -> None:
    res = client.request(method, path, headers=auth["admin"])
    assert (res.status_code, res.content) == (405, b"")


def test_redirect_reserializes_the_query_like_node(client: TestClient) -> None:
    # found by parity (contract example q="refund delayed" on the trailing-slash probe)
    res = client.get("/api/search/?q=refund+delayed&k&v=a=b&bad=%zz")
    assert res.headers["location"] == "/api/search?q=refund%20delayed&k=&v=a%3Db&bad=%25zz"


def test_options_allow_names_the_route_file_nextjs_picks(client: TestClient) -> None:
    # a static segment's route file, not the dynamic one's methods as well
    assert client.options("/api/alerts/count").headers["allow"] == "GET, HEAD, OPTIONS"
    assert client.options("/api/trending/compute").headers["allow"] == "OPTIONS, POST"
    allow = client.options("/api/alerts/7").headers["allow"]
    assert "GET" in allow.split(", ")
    assert "PATCH" not in client.options("/api/alerts/count").headers["allow"]


def test_answers_are_compressed_as_nextjs_compresses_them(client: TestClient, auth: H) -> None:
    gzipped = client.get("/api/cases", headers={**auth["admin"], "accept-encoding": "gzip, br"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.headers["vary"] == "Accept-Encoding"
    assert gzipped.json() == client.get("/api/cases", headers=auth["admin"]).json()  # decoded
    deflated = client.get("/api/health", headers={"accept-encoding": "deflate"})
    assert deflated.headers["content-encoding"] == "deflate"
    plain = client.get("/api/health", headers={"accept-encoding": "br"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    head = client.head("/api/health", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in head.headers
    # no body type (an empty 405): neither compressed nor Vary
    empty = client.delete("/api/alerts/count", headers={"accept-encoding": "gzip"})
    assert empty.status_code == 405
    assert "content-encoding" not in empty.headers
    assert "vary" not in empty.headers
    slash = client.get("/api/cases/", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in slash.headers  # Next.js's own redirect


def test_nextjs_own_500_is_answered_as_nextjs_answers_it(client: TestClient) -> None:
    bad = client.get("/api/cases/%E0", headers={"accept-encoding": "gzip"})
    assert (bad.status_code, bad.text) == (500, "Internal Server Error")
    assert bad.headers["content-type"] == "text/plain"
    assert "content-encoding" not in bad.headers  # short, its length known: not compressed
    assert bad.headers["cache-control"] == "private, no-cache, no-store, max-age=0, must-revalidate"
    assert bad.headers["etag"] == '"66fci67lppl"'
    assert bad.headers["vary"] == "Accept-Encoding"
    trace = client.request("TRACE", "/api/cases", headers={"accept-encoding": "gzip"})
    assert trace.status_code == 500
    assert "content-encoding" not in trace.headers
    assert "cache-control" not in trace.headers
    assert trace.headers["etag"] == '"66fci67lppl"'


def test_an_undocumented_priority_filter_narrows_the_list(client: TestClient, auth: H) -> None:
    every = client.get("/api/cases?pageSize=100", headers=auth["admin"]).json()
    urgent = client.get("/api/cases?priority=urgent&pageSize=100", headers=auth["admin"])
    assert urgent.status_code == 200
    expected = [c["id"] for c in every["data"] if c["priority"] == "urgent"]
    assert expected
    assert urgent.json()["pagination"]["total"] == len(expected)
    assert [c["id"] for c in urgent.json()["data"]] == expected
    # the export's filters do not take it: the legacy's zod object drops an unknown key
    export = client.get(
        "/api/export?resource=cases&format=json&priority=urgent", headers=auth["admin"]
    )
    assert export.status_code == 200
    assert len(export.json()) > len(expected)
    bad = client.get("/api/cases?priority=asap&status=nope", headers=auth["admin"])
    assert bad.status_code == 400
    assert bad.json()["error"] == "validation_error"
    assert [i["path"] for i in bad.json()["issues"]] == ["status", "priority"]


@pytest.mark.parametrize(
    ("prefer", "minimal"),
    [
        ("return=minimal", True),
        ('handling=lenient, Return="Minimal"; x=1', True),
        ("return=representation", False),
        ("return", False),
        ("", False),
    ],
)
def test_prefer_return_minimal_on_case_writes(
    client: TestClient, auth: H, db_path: Path, prefer: str, minimal: bool
) -> None:
    headers = {**auth["agent"], "Prefer": prefer}
    before = events(db_path)
    made = client.post("/api/cases", headers=headers, json={**CASE, "title": "Minimal"})
    assert made.status_code == (204 if minimal else 201)
    assert made.headers.get("preference-applied") == ("return=minimal" if minimal else None)
    assert (made.content == b"") is minimal
    assert events(db_path) == before + 1
    with sqlite3.connect(db_path) as conn:
        cid = conn.execute("SELECT max(id) FROM cases WHERE title = 'Minimal'").fetchone()[0]
    patched = client.patch(f"/api/cases/{cid}", headers=headers, json={"title": "Minimal too"})
    assert patched.status_code == (204 if minimal else 200)
    assert patched.headers.get("preference-applied") == ("return=minimal" if minimal else None)
    assert client.get(f"/api/cases/{cid}", headers=auth["agent"]).json()["title"] == "Minimal too"
    assert events(db_path) == before + 2
    # an invalid write is the same 400 with the preference or without
    assert client.patch(f"/api/cases/{cid}", headers=headers, json={}).status_code == 400
