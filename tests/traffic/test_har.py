"""HAR 1.2 import: callers from the login that issued the token, redaction, broken entries."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.traffic.capture import Pseudonymizer, Redactor, TrafficError, read_capture
from harness.traffic.har import import_har, read_traffic

KEY = Pseudonymizer(b"k")


def _entry(
    method: str,
    url: str,
    status: int,
    *,
    sent: Any = None,
    got: Any = None,
    headers: list[dict[str, str]] | None = None,
    t: str = "2026-01-05T09:00:00.000Z",
) -> dict[str, Any]:
    req: dict[str, Any] = {
        "method": method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "headers": headers or [],
        "queryString": [],
        "cookies": [],
    }
    if sent is not None:
        req["postData"] = {"mimeType": "application/json", "text": json.dumps(sent)}
    content: dict[str, Any] = {"size": 0, "mimeType": "application/json"}
    if got is not None:
        content["text"] = json.dumps(got)
    return {
        "startedDateTime": t,
        "time": 12.5,
        "request": req,
        "response": {"status": status, "statusText": "", "headers": [], "content": content},
        "cache": {},
        "timings": {"send": 0, "wait": 1, "receive": 0},
    }


def _har(entries: list[Any]) -> dict[str, Any]:
    return {
        "log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}
    }


def _sample() -> list[Any]:
    bearer = [{"name": "Authorization", "value": "Bearer tok-ann"}]
    png = base64.b64encode(b"\x89PNG\x00\xff").decode()
    upload = _entry("POST", "http://h/api/uploads", 201, headers=bearer, t="2026-01-05T09:00:03Z")
    upload["request"]["postData"] = {"mimeType": "image/png", "text": png, "encoding": "base64"}
    return [
        _entry(
            "POST",
            "http://h/api/auth/login",
            200,
            sent={"email": "ann@x", "password": "pw1"},
            got={"token": "tok-ann", "user": {"id": 1}},
            t="2026-01-05T09:00:00Z",
        ),
        _entry(
            "GET",
            "http://h/api/cases?status=open&q=leak",
            200,
            headers=bearer,
            got={"data": []},
            t="2026-01-05T09:00:01Z",
        ),
        _entry(
            "GET",
            "http://h/api/cases/5",
            404,
            headers=[{"name": "Cookie", "value": "session=tok-ann"}],
            t="2026-01-05T09:00:02Z",
        ),
        upload,
        _entry("GET", "http://h/api/health", 200, t="2026-01-05T09:00:04Z"),
    ]


def test_har_import_maps_callers_to_users_and_redacts(tmp_path: Path) -> None:
    path = tmp_path / "s.har"
    path.write_text(json.dumps(_har(_sample())))
    cap = import_har(path, Redactor.build(KEY), snapshot="seed")
    assert not cap.problems
    assert cap.header.source == "har"
    assert cap.header.snapshot == "seed"
    ex = cap.exchanges
    assert [e.request.method + " " + e.request.path for e in ex] == [
        "POST /api/auth/login",
        "GET /api/cases",
        "GET /api/cases/5",
        "POST /api/uploads",
        "GET /api/health",
    ]
    assert ex[1].request.query == [("status", "open"), ("q", "leak")]
    # the caller is the user who logged in (a bearer header or the cookie), not the token
    assert ex[1].caller == ex[2].caller == ex[3].caller == KEY("ann@x")
    assert ex[4].caller is None  # anonymous
    login = ex[0]
    assert login.request.body is not None
    assert login.request.body.decoded()["password"] == "[redacted]"
    assert login.answer is not None
    assert login.answer.body is not None
    assert login.answer.body.decoded()["token"] == "[redacted]"
    assert ex[3].request.body is not None
    assert ex[3].request.body.content() == b"\x89PNG\x00\xff"
    assert "tok-ann" not in "".join(e.model_dump_json() for e in ex)


def test_a_broken_har_entry_is_named_and_the_valid_ones_still_import(tmp_path: Path) -> None:
    entries = _sample()
    entries[2] = {"request": {"method": "GET"}}  # no url
    entries.insert(1, "garbage")
    path = tmp_path / "b.har"
    path.write_text(json.dumps(_har(entries)))
    with pytest.raises(TrafficError) as err:
        read_traffic(path, Redactor.build(KEY))
    assert "(entry 1): not an object" in err.value.message
    assert "(entry 3): request.url is missing" in err.value.message
    assert "(4 valid)" in err.value.message
    assert "--keep-going" in err.value.message
    out = tmp_path / "c.jsonl"
    assert main(["traffic", "import", str(path), "--out", str(out)]) == 2
    assert not out.exists()
    assert main(["traffic", "import", str(path), "--out", str(out), "--keep-going"]) == 0
    assert len(read_capture(out).exchanges) == 4


def test_not_a_har_file(tmp_path: Path) -> None:
    path = tmp_path / "x.har"
    path.write_text('{"log": {}}')
    with pytest.raises(TrafficError, match="not a HAR file"):
        read_traffic(path, Redactor.build(KEY))


def test_parity_run_refuses_a_broken_capture_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = _sample()
    entries[1] = {"request": {"method": "GET"}}
    path = tmp_path / "b.har"
    path.write_text(json.dumps(_har(entries)))
    reports = tmp_path / "reports"
    code = main(["run", "--traffic", str(path), "--report-dir", str(reports), "-q"])
    assert code == 2
    assert "(entry 1): request.url is missing" in capsys.readouterr().out
    assert not reports.exists()


def test_a_chrome_websocket_entry_is_a_subscription_with_the_frames_received(
    tmp_path: Path,
) -> None:
    """Chrome's HAR keeps a subscription's frames in ``_webSocketMessages``: the ones the
    server sent become the exchange's messages (redacted like bodies), in order; the request
    is marked as the upgrade it was, so the replay follows the channel as its caller."""
    login = _entry(
        "POST",
        "http://h/api/auth/login",
        200,
        sent={"email": "ann@x", "password": "pw1"},
        got={"token": "tok-ann"},
        t="2026-01-05T09:00:00Z",
    )
    ws = _entry(
        "GET",
        "ws://h/api/realtime",
        101,
        headers=[{"name": "Authorization", "value": "Bearer tok-ann"}],
        t="2026-01-05T09:00:01Z",
    )
    ws["_resourceType"] = "websocket"
    ready = {"type": "ready", "token": "tok-ann"}
    ws["_webSocketMessages"] = [
        {"type": "receive", "time": 1.0, "opcode": 1, "data": json.dumps(ready)},
        {"type": "send", "time": 1.1, "opcode": 1, "data": "ping"},
        {"type": "receive", "time": 1.2, "opcode": 1, "data": "pong"},
        {
            "type": "receive",
            "time": 1.3,
            "opcode": 2,
            "data": base64.b64encode(b"\x00\x01").decode(),
        },
    ]
    path = tmp_path / "ws.har"
    path.write_text(json.dumps(_har([login, ws])))
    cap = import_har(path, Redactor.build(KEY))
    assert not cap.problems
    sub = cap.exchanges[1]
    assert sub.request.websocket
    assert sub.caller == KEY("ann@x")
    assert sub.answer is not None
    assert sub.answer.status == 101
    frames = sub.answer.messages or []
    assert [f.media_type for f in frames] == [
        "application/json",
        "text/plain",
        "application/octet-stream",
    ]  # what the server sent, not the client's ping
    assert frames[0].decoded() == {"type": "ready", "token": "[redacted]"}
    assert frames[1].text == "pong"
    assert frames[2].content() == b"\x00\x01"
