"""Values seen in traffic feed the data-driven cases' value source; secrets and
pseudonyms never do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from harness.cases.datavalues import ValueSource
from harness.traffic.capture import (
    REDACTED,
    Body,
    Capture,
    CapturedRequest,
    Exchange,
    Header,
    Pseudonymizer,
    Timings,
)
from harness.traffic.values import feed_values

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _ex(seq: int, query: list[tuple[str, str]], body: str | None = None) -> Exchange:
    return Exchange(
        seq=seq,
        request=CapturedRequest(
            method="POST" if body else "GET",
            path="/api/cases",
            query=query,
            body=Body(media_type="application/json", text=body) if body else None,
        ),
        timings=Timings(started=T0),
    )


def test_query_values_and_body_fields_feed_the_source_most_used_first() -> None:
    alias = Pseudonymizer(b"k")("ana@example.org")
    cap = Capture(
        Header(created=T0),
        [
            _ex(0, [("q", "flood"), ("status", "open")]),
            _ex(1, [("q", "pump station"), ("status", "open")]),
            _ex(2, [("q", "flood")]),
            _ex(3, [], '{"title": "Leak", "priority": 3, "password": "' + REDACTED + '"}'),
            _ex(4, [], '{"assignee": "' + alias + '", "urgent": true}'),
        ],
    )
    source = ValueSource()
    assert feed_values(source, [cap]) == 5
    assert [v for v, _ in source.for_field("q")] == ["flood", "pump station"]
    assert source.for_field("status") == [("open", "traffic")]
    assert source.for_field("title") == [("Leak", "traffic")]
    assert source.for_field("priority") == [(3, "traffic")]
    assert source.for_field("password") == []  # redacted: never a value
    assert source.for_field("assignee") == []  # a pseudonym stands for a person
    assert source.for_field("urgent") == []
    assert source.shown("flood", "traffic") == "<from the data>"  # users' data: masked


def test_a_run_takes_values_from_the_configured_traffic(tmp_path: Path) -> None:
    from harness.run.context import RunStats
    from harness.run.datacases import value_source
    from harness.setup.traffic import TrafficConfig

    cap = Capture(Header(created=T0), [_ex(0, [("q", "flood")])])
    cap.write(tmp_path / "seen.jsonl")
    config = SimpleNamespace(
        traffic=TrafficConfig(values_from=["seen.jsonl"]),
        resolve=lambda name: tmp_path / name,
    )
    ctx = SimpleNamespace(
        config=config,
        pair=SimpleNamespace(snapshot=None, mode="managed", watchers={}),
        stats=RunStats(),
    )
    source = value_source(ctx)  # type: ignore[arg-type]
    assert source is not None
    assert source.for_field("q") == [("flood", "traffic")]
    assert "1 values from traffic" in ctx.stats.notes[0]
    ctx2 = SimpleNamespace(
        config=SimpleNamespace(traffic=TrafficConfig()),
        pair=SimpleNamespace(snapshot=None, mode="managed", watchers={}),
        stats=RunStats(),
    )
    assert value_source(ctx2) is None  # type: ignore[arg-type]
