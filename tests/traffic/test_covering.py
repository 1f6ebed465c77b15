"""The coverage launcher's parts: the command it wraps, the middleware naming each request's
context, and the data read back per capture entry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import coverage
import pytest

from harness.traffic.covering import ContextPerRequest, arcs_by_entry, wrap_command


def test_only_a_python_command_is_wrapped(tmp_path: Path) -> None:
    data, source = tmp_path / "d", tmp_path / "src"
    wrapped = wrap_command(["{python}", "-m", "backend"], data, source)
    assert wrapped[:3] == ["{python}", "-m", "harness.traffic.covering"]
    assert wrapped[-3:] == ["--", "-m", "backend"]
    assert wrap_command(["/usr/bin/python3.11", "app.py"], data, source)[-2:] == ["--", "app.py"]
    with pytest.raises(ValueError, match="Python candidate"):
        wrap_command(["npm", "start"], data, source)


def test_the_middleware_names_a_request_by_its_capture_entry() -> None:
    switched: list[str] = []
    seen: list[list[str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(list(switched))

    middleware = ContextPerRequest(app, switched.append)
    entry = {"type": "http", "headers": [(b"x-parity-capture", b"c.jsonl#7")]}
    asyncio.run(middleware(entry, None, None))
    assert seen[-1] == ["c.jsonl#7"]  # while the request runs
    assert switched == ["c.jsonl#7", ""]  # and back after it
    asyncio.run(middleware({"type": "http", "headers": []}, None, None))
    assert switched == ["c.jsonl#7", ""]  # a request without an entry: untouched


def _branch(flag: bool) -> int:
    if flag:
        return 1
    return 2


def test_arcs_are_read_back_per_capture_entry(tmp_path: Path) -> None:
    data = tmp_path / "port.coverage"
    cov = coverage.Coverage(data_file=str(data), branch=True, include=[__file__])
    cov.start()
    try:
        cov.switch_context("c.jsonl#3")
        _branch(True)
        cov.switch_context("c.jsonl#4")
        _branch(False)
        cov.switch_context("")
    finally:
        cov.stop()
        cov.save()
    arcs = arcs_by_entry(data)
    assert set(arcs) == {3, 4}
    assert arcs[3]
    assert arcs[4]
    assert arcs[3] != arcs[4]  # the other branch
    assert not arcs[4] <= arcs[3]
    (tmp_path / "junk").write_text("not a database")
    with pytest.raises(ValueError, match=r"not coverage\.py"):
        arcs_by_entry(tmp_path / "junk")
