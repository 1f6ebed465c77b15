"""The capture format: round trip, redaction, pseudonyms, retention, schema, broken input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.traffic.capture import (
    SCHEMA_FILE,
    Body,
    CapturedAnswer,
    CapturedRequest,
    CaptureWriter,
    Exchange,
    Header,
    Pseudonymizer,
    Redactor,
    Retention,
    Timings,
    TrafficError,
    json_schema,
    read_capture,
)
from harness.traffic.har import read_traffic

KEY = Pseudonymizer(b"test-key")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _ex(n: int, *, when: datetime = T0, body: object = None, caller: str = "ann@x") -> Exchange:
    return Exchange(
        seq=0,
        caller=KEY(caller),
        request=CapturedRequest(
            method="POST",
            path="/api/cases",
            query=[("q", f"n{n}"), ("token", "abc")],
            headers=[("Authorization", "Bearer sekret"), ("Cookie", "session=s1"), ("X-N", str(n))],
            body=Body(media_type="application/json", text=json.dumps(body or {"title": f"t{n}"})),
        ),
        answer=CapturedAnswer(
            status=201,
            headers=[("Set-Cookie", "session=s2")],
            body=Body.of(b"\xff\x00binary", "application/octet-stream"),
            served_by="legacy",
        ),
        timings=Timings(started=when + timedelta(seconds=n), duration_ms=3.5),
    )


def test_the_checked_in_capture_schema_matches_the_model() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema(), (
        "docs/capture.schema.json is stale: run python -m harness.traffic.capture --write"
    )


def test_round_trip_redacts_secrets_and_pseudonymizes_personal_fields(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    redactor = Redactor.build(KEY, fields=["pin"], personal=["email", "name"])
    header = Header(created=T0, snapshot="seed-v1", key_id=KEY.key_id, source="test")
    body = {"title": "t", "password": "hunter2", "nested": {"pin": "1234", "email": "a@b.c"}}
    with CaptureWriter(path, header, redactor) as w:
        w.write(_ex(0, body=body))
        w.write(_ex(1))
    text = path.read_text()
    for secret in ("sekret", "hunter2", "1234", "a@b.c", "session=s1", "session=s2", "abc"):
        assert secret not in text, secret
    cap = read_capture(path)
    assert cap.header.snapshot == "seed-v1"
    assert cap.header.key_id == KEY.key_id
    assert [e.seq for e in cap.exchanges] == [0, 1]
    first = cap.exchanges[0]
    assert first.request.body is not None
    sent: Any = first.request.body.decoded()
    assert sent["password"] == "[redacted]"
    assert sent["nested"]["pin"] == "[redacted]"
    assert sent["nested"]["email"] == KEY("a@b.c")  # same HMAC as callers: linkable, not readable
    assert dict(first.request.headers)["X-N"] == "0"
    assert dict(first.request.headers)["Authorization"] == "[redacted]"
    assert ("token", "[redacted]") in first.request.query
    assert first.answer is not None
    assert first.answer.body is not None
    assert first.answer.body.content() == b"\xff\x00binary"  # binary kept as base64
    assert first.caller == KEY("ann@x") != Pseudonymizer(b"other")("ann@x")
    assert first.timings.started == T0


def test_writer_enforces_age_and_size(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    header = Header(created=T0, key_id=KEY.key_id)
    redactor = Redactor.build(KEY)
    with CaptureWriter(path, header, redactor) as w:
        for n in range(10):
            w.write(_ex(n, when=T0 - timedelta(days=10) if n < 4 else T0))
    now = T0 + timedelta(hours=1)
    with CaptureWriter(path, header, redactor, Retention(max_age=timedelta(days=1)), now=now):
        pass
    assert [e.seq for e in read_capture(path).exchanges] == [4, 5, 6, 7, 8, 9]
    limit = path.stat().st_size // 2
    with CaptureWriter(path, header, redactor, Retention(max_bytes=limit), now=now) as w:
        for n in range(10, 20):
            w.write(_ex(n))
        assert path.stat().st_size <= limit
    kept = read_capture(path).exchanges
    assert kept
    assert kept[-1].seq == 19
    assert kept[0].seq > 4
    with pytest.raises(TrafficError, match="pseudonym key"):
        CaptureWriter(path, header.model_copy(update={"key_id": "other"}), redactor)


def test_a_broken_line_names_its_entry_and_keeps_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path, Header(created=T0, key_id=KEY.key_id), Redactor.build(KEY)) as w:
        for n in range(3):
            w.write(_ex(n))
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"method":"POST"', '"method":7')
    lines.append('{"kind":"exchange","seq":3')  # truncated tail
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrafficError) as err:
        read_traffic(path, Redactor.build(KEY))
    assert "line 3 (entry 1): request.method" in err.value.message
    assert "line 5 (entry 3): not JSON" in err.value.message
    cap = read_traffic(path, Redactor.build(KEY), keep_going=True)
    assert [e.seq for e in cap.exchanges] == [0, 2]
    assert len(cap.problems) == 2
    out = tmp_path / "out.jsonl"
    assert main(["traffic", "import", str(path), "--out", str(out)]) == 2
    assert not out.exists()
    assert main(["traffic", "import", str(path), "--out", str(out), "--keep-going"]) == 0
    assert len(read_capture(out).exchanges) == 2


def test_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"kind": "header", "format": "parity-capture", "version": 99, "created": "2026-01-01T00:00:00Z"}\n'
    )
    with pytest.raises(TrafficError, match="version 99"):
        read_capture(path)
    path.write_text("")
    with pytest.raises(TrafficError, match="not JSON, so not a HAR"):
        read_traffic(path, Redactor.build(KEY))
