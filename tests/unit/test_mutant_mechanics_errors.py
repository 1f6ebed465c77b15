"""The mutant launcher writes down unhandled exceptions, so a mutant that crashes its handler
(a 500 on every request) cannot pass for a detection of its drift."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.mutants.catalogue import get
from tests.mutants.launcher import MechanicsErrors


async def _call(app: Any) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app({"type": "http", "method": "POST", "path": "/api/upload"}, receive, send)


def test_an_exception_from_mutant_code_is_written_down(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        get("no-such-mutant")  # raises KeyError inside tests/mutants/catalogue.py

    log = tmp_path / "errors.log"
    with pytest.raises(KeyError):
        asyncio.run(_call(MechanicsErrors(app, log)))
    assert "POST /api/upload" in log.read_text()
    assert "catalogue.py" in log.read_text()


def test_a_request_that_answers_writes_nothing(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    log = tmp_path / "errors.log"
    asyncio.run(_call(MechanicsErrors(app, log)))
    assert not log.exists()
