"""The port's realtime channel (/api/realtime): auth, unit scope, id order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

# the port in-process on a database seeded by the legacy (npx tsx)
pytestmark = pytest.mark.integration

H = dict[str, dict[str, str]]


def token(auth: H, role: str) -> str:
    return auth[role]["Authorization"].removeprefix("Bearer ")


def drain(ws: WebSocketTestSession, count: int) -> list[dict[str, Any]]:
    return [json.loads(ws.receive_text()) for _ in range(count)]


def test_anonymous_subscriber_is_told_and_closed(client: TestClient) -> None:
    with client.websocket_connect("/api/realtime") as ws:
        assert json.loads(ws.receive_text()) == {
            "type": "error",
            "error": "unauthorized",
            "message": "Authentication required",
        }
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4401


@pytest.mark.timing
def test_events_in_order_scoped_to_the_unit(client: TestClient, auth: H) -> None:
    def create(unit: str) -> int:
        res = client.post(
            "/api/cases",
            headers=auth["admin"],
            json={
                "title": f"rt {unit}",
                "channel": "web",
                "category": "x",
                "customerName": "y",
                "businessUnit": unit,
            },
        )
        return int(res.json()["id"])

    with (
        client.websocket_connect(f"/api/realtime?token={token(auth, 'agent')}") as agent,
        client.websocket_connect("/api/realtime", headers=auth["agent_smb"]) as smb,
    ):
        assert drain(agent, 1)[0]["type"] == "ready"
        assert drain(smb, 1)[0]["businessUnit"] == "smb"
        retail = create("retail")
        create("smb")
        client.post(f"/api/cases/{retail}/chat", headers=auth["agent"], json={"body": "hi"})
        client.delete(f"/api/cases/{retail}", headers=auth["admin"])
        client.post("/api/trending/compute", headers=auth["admin"], json={})
        got = drain(agent, 4)
        assert [m["event"]["kind"] for m in got] == [
            "case.created",
            "chat.created",
            "case.deleted",
            "trending.computed",
        ]
        ids = [m["event"]["id"] for m in got]
        assert ids == sorted(ids)
        assert [m["event"]["kind"] for m in drain(smb, 2)] == ["case.created", "trending.computed"]
        assert got[2]["event"]["businessUnit"] == "retail"  # the unit it had when deleted
