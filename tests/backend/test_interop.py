"""Both stacks on ONE database file at once: rows and sessions cross over unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backend.conftest import requires_legacy
from tests.servers import Service, running

pytestmark = [pytest.mark.e2e, requires_legacy]


@pytest.fixture(scope="module")
def pair(
    seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Service]]:
    folder = tmp_path_factory.mktemp("interop")
    shared = folder / "shared.db"
    shared.write_bytes(seeded_template.read_bytes())
    with running("legacy", shared, folder) as legacy, running("port", shared, folder) as port:
        yield legacy, port


def _get(service: Service, path: str, token: str) -> httpx.Response:
    return httpx.get(service.url + path, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("direction", ["legacy->port", "port->legacy"])
def test_rows_read_back_identically(pair: tuple[Service, Service], direction: str) -> None:
    legacy, port = pair
    writer, reader = (legacy, port) if direction == "legacy->port" else (port, legacy)
    token_w, token_r = writer.login("admin"), reader.login("admin")
    h = {"Authorization": f"Bearer {token_w}"}
    created = {
        "case": httpx.post(
            writer.url + "/api/cases",
            headers=h,
            json={
                "title": "Interop ü",
                "channel": "web",
                "category": "x",
                "customerName": "Z",
                "metadata": {"k": [1, 2.5]},
            },
        ).json(),
        "alert": httpx.post(
            writer.url + "/api/alerts",
            headers=h,
            json={"title": "Interop", "message": "m", "severity": "critical"},
        ).json(),
        "feed": httpx.post(
            writer.url + "/api/feed",
            headers=h,
            json={"kind": "trend", "title": "Interop", "expiresAt": "2031-01-01T00:00:00Z"},
        ).json(),
    }
    upload = httpx.post(
        writer.url + "/api/upload",
        headers=h,
        files={"file": ("i.csv", b"title,channel,category,customerName\nA,web,x,Y\n", "text/csv")},
    ).json()["upload"]
    ack = httpx.post(writer.url + f"/api/alerts/{created['alert']['id']}/acknowledge", headers=h)
    assert ack.status_code == 200
    for path, expected in [
        (f"/api/cases/{created['case']['id']}", created["case"]),
        (f"/api/uploads/{upload['id']}", upload),
        (f"/api/alerts/{created['alert']['id']}", ack.json()),
    ]:
        via_writer = _get(writer, path, token_w).json()
        via_reader = _get(reader, path, token_r).json()
        assert via_reader == via_writer
        assert via_writer["id"] == expected["id"]
    feed_w = _get(writer, "/api/feed?limit=50", token_w).json()["data"]
    feed_r = _get(reader, "/api/feed?limit=50", token_r).json()["data"]
    assert feed_r == feed_w
    assert created["feed"]["id"] in {f["id"] for f in feed_r}
    search = "/api/search?q=interop&limit=50"
    assert (
        _get(reader, search, token_r).json()["results"]
        == _get(writer, search, token_w).json()["results"]
    )


def test_sessions_cross_stacks(pair: tuple[Service, Service]) -> None:
    legacy, port = pair
    from_legacy = legacy.login("agent")
    from_port = port.login("viewer")
    assert _get(port, "/api/auth/me", from_legacy).json()["user"]["role"] == "agent"
    assert _get(legacy, "/api/auth/me", from_port).json()["user"]["role"] == "viewer"
    out = httpx.post(
        port.url + "/api/auth/logout", headers={"Authorization": f"Bearer {from_legacy}"}
    )
    assert out.status_code == 200
    assert _get(legacy, "/api/auth/me", from_legacy).status_code == 401


@pytest.mark.parametrize(
    "prefer",
    ["return=minimal", 'respond-async, RETURN = "minimal" ;p=1', "return=representation", None],
)
def test_undocumented_priority_filter_and_prefer_minimal_agree(
    pair: tuple[Service, Service], prefer: str | None
) -> None:
    """What the contract leaves out (issue 29's planted gaps) is ported identically too."""
    answers = []
    for service in pair:
        token = service.login("agent")
        h = {"Authorization": f"Bearer {token}"}
        listed = [
            _get(service, f"/api/cases?priority={p}&pageSize=100", token)
            for p in ("urgent", "low", "asap", "")
        ]
        if prefer is not None:
            h["Prefer"] = prefer
        made = httpx.post(
            service.url + "/api/cases",
            headers=h,
            json={
                "title": f"Prefer {service.name}",
                "channel": "web",
                "category": "x",
                "customerName": "Z",
            },
        )
        newest = _get(service, "/api/cases?sort=-createdAt&pageSize=1", token).json()["data"][0]
        assert newest["title"] == f"Prefer {service.name}"
        patched = httpx.patch(
            service.url + f"/api/cases/{newest['id']}", headers=h, json={"priority": "high"}
        )
        assert _get(service, f"/api/cases/{newest['id']}", token).json()["priority"] == "high"
        answers.append(
            (
                [(r.status_code, r.json()) for r in listed[2:]],
                [r.json()["pagination"]["total"] for r in listed[:2]],
                [
                    (r.status_code, r.content == b"", r.headers.get("preference-applied"))
                    for r in (made, patched)
                ],
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][0][0][0] == 400
    minimal = prefer is not None and "minimal" in prefer
    assert answers[0][2] == [
        (204 if minimal else 201, minimal, "return=minimal" if minimal else None),
        (204 if minimal else 200, minimal, "return=minimal" if minimal else None),
    ]
