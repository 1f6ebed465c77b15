"""The parity report: one self-contained HTML file (inline CSS and SVG, no script, no network).

Written for a release manager who never saw the code: the verdict first, then the score,
what changed since the previous run, every contract operation, and each finding with both
responses side by side and the differing paths highlighted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.cases.masking import SHOW_HINT
from harness.reporting import as_document
from harness.reporting.results import SCHEMA_VERSION, Results, gap_text
from harness.reporting.writediff import write_diff

__all__ = ["find_previous", "render_html", "write_html"]

VERDICT_TEXT = {
    "agree": "The port agrees with the legacy on everything exercised.",
    "drift": "Drift: the port answers or writes differently from the legacy.",
    "error": "No verdict: parity, its input or a service failed; nothing was proven.",
    "incomplete": "Incomplete: some operations never got a documented success from both "
    "sides, so nothing was proven for them.",
}


@dataclass(frozen=True)
class Line:
    text: str
    path: str
    hit: bool


def _block(opening: str, children: list[list[Line]], closing: str, path: str) -> list[Line]:
    """An object or array: its children between the brackets, each but the last with a comma."""
    lines = [Line(opening, path, False)]
    for i, child in enumerate(children):
        if i < len(children) - 1:
            last = child[-1]
            child[-1] = Line(last.text + ",", last.path, False)
        lines += child
    lines.append(Line(closing, path, False))
    return lines


def _pretty(value: Any, path: str = "$", indent: int = 0, key: str | None = None) -> list[Line]:
    """Pretty-printed JSON, one record per line with the JSON path it belongs to."""
    pad = "  " * indent
    label = f"{json.dumps(key, ensure_ascii=False)}: " if key is not None else ""
    if isinstance(value, dict) and value:
        members = [_pretty(v, f"{path}.{k}", indent + 1, k) for k, v in value.items()]
        return _block(f"{pad}{label}{{", members, f"{pad}}}", path)
    if isinstance(value, list) and value:
        items = [_pretty(v, f"{path}[{i}]", indent + 1) for i, v in enumerate(value)]
        return _block(f"{pad}{label}[", items, f"{pad}]", path)
    return [Line(f"{pad}{label}{json.dumps(value, ensure_ascii=False)}", path, False)]


def highlight(value: Any, paths: Sequence[str]) -> list[Line]:
    """Mark every line at or under a differing path."""
    if value is None:
        return []
    out = []
    for line in _pretty(value):
        hit = any(
            line.path == p or line.path.startswith(p + ".") or line.path.startswith(p + "[")
            for p in paths
        )
        out.append(Line(line.text, line.path, hit))
    return out


def _score(agreeing: int, cases: int) -> float | None:
    return round(100.0 * agreeing / cases, 1) if cases else None


def find_previous(path: Path, run_id: str) -> dict[str, Any] | None:
    """The newest earlier run's results beside this one (reports/<run-id>/results.json)."""
    root = path.parent.parent
    if not root.is_dir():
        return None
    candidates = sorted(
        (d for d in root.iterdir() if d.is_dir() and d.name < run_id and d.name[:1].isdigit()),
        reverse=True,
    )
    for folder in candidates:
        try:
            data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION:
            return data
    return None


def _changes(results: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    if previous is None:
        return {"available": False}
    now = {f["id"]: f for f in results.get("findings", []) if not f.get("accepted")}
    before = {f["id"]: f for f in previous.get("findings", []) if not f.get("accepted")}
    # a finding is the previous run's when that one had its id or an id it had under an
    # older grouping (previous_ids: a status pair before its causes were split)
    seen = {i: [i, *now[i].get("previous_ids", ())] for i in now}
    kept = {i for i in now if any(p in before for p in seen[i])}
    matched = {p for i in kept for p in seen[i]}
    return {
        "available": True,
        "previous_run": previous.get("run_id"),
        "previous_verdict": previous.get("verdict"),
        "new": [now[i] for i in now if i not in kept],
        "fixed": [before[i] for i in before if i not in matched],
        "open": [now[i] for i in now if i in kept],
    }


def _bar_chart(rows: list[tuple[str, int, int]], width: int = 640) -> dict[str, Any]:
    """Findings (and accepted differences) per operation, as SVG geometry."""
    rows = [r for r in rows if r[1] or r[2]]
    bar_h, gap, label_w = 18, 6, 230
    top = max((r[1] + r[2] for r in rows), default=0) or 1
    scale = (width - label_w - 40) / top
    bars = []
    for i, (label, findings, accepted) in enumerate(rows):
        y = i * (bar_h + gap)
        bars.append(
            {
                "label": label,
                "y": y,
                "text_y": y + bar_h - 5,
                "findings_w": round(findings * scale, 1),
                "accepted_x": label_w + round(findings * scale, 1),
                "accepted_w": round(accepted * scale, 1),
                "value_x": label_w + round((findings + accepted) * scale, 1) + 4,
                "findings": findings,
                "accepted": accepted,
            }
        )
    return {
        "bars": bars,
        "height": max(len(rows) * (bar_h + gap), 1),
        "width": width,
        "label_w": label_w,
        "bar_h": bar_h,
    }


def _latency_chart(operations: list[Mapping[str, Any]], width: int = 640) -> dict[str, Any]:
    rows = []
    for op in operations:
        lat = op.get("latency_ms") or {}
        legacy, cand = lat.get("legacy") or {}, lat.get("candidate") or {}
        if legacy.get("p95") is not None and cand.get("p95") is not None:
            rows.append((op["id"], float(legacy["p95"]), float(cand["p95"])))
    label_w, bar_h, gap = 230, 9, 8
    top = max((max(r[1], r[2]) for r in rows), default=0) or 1
    scale = (width - label_w - 100) / top
    bars = []
    for i, (label, lp, cp) in enumerate(rows):
        y = i * (2 * bar_h + gap)
        bars.append(
            {
                "label": label,
                "y": y,
                "text_y": y + bar_h + 3,
                "legacy_w": round(lp * scale, 1),
                "candidate_w": round(cp * scale, 1),
                "legacy": lp,
                "candidate": cp,
            }
        )
    return {
        "bars": bars,
        "height": max(len(rows) * (2 * bar_h + gap), 1),
        "width": width,
        "label_w": label_w,
        "bar_h": bar_h,
    }


def _codes(op: Mapping[str, Any], side: str) -> str:
    codes = (op.get("status_codes") or {}).get(side) or {}
    return ", ".join(f"{c}: {n}" for c, n in sorted(codes.items()))


def _finding_view(finding: Mapping[str, Any]) -> dict[str, Any]:
    example = finding.get("example") or {}
    diff = example.get("diff") or []
    body_paths = [str(d.get("path", "")) for d in diff if str(d.get("path", "")).startswith("$")]
    steps = []
    for step in example.get("steps") or []:
        steps.append(
            {
                "request": step.get("request") or {},
                "legacy": step.get("legacy") or {},
                "candidate": step.get("candidate") or {},
                "legacy_lines": highlight((step.get("legacy") or {}).get("body"), body_paths),
                "candidate_lines": highlight((step.get("candidate") or {}).get("body"), body_paths),
                "curl": step.get("curl") or {},
                "masked": step.get("masked") or [],
            }
        )
    writes = example.get("db_writes") or {}
    paths = [str(d.get("path", "")) for d in [*diff, *(example.get("other_diffs") or [])]]
    return {
        **finding,
        "steps": steps,
        "diff": diff,
        "db_legacy": json.dumps(writes.get("legacy") or {}, indent=2, ensure_ascii=False),
        "db_candidate": json.dumps(writes.get("candidate") or {}, indent=2, ensure_ascii=False),
        "has_db": bool(writes.get("legacy") or writes.get("candidate")),
        "write_rows": write_diff(writes, paths),
    }


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness.reporting", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)
    return env


def render_html(
    document: Results | Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> str:
    results = as_document(document)
    operations = list(results.get("operations") or [])
    cases = sum(int(op.get("cases") or 0) for op in operations)
    agreeing = sum(int(op.get("agreeing") or 0) for op in operations)
    findings = list(results.get("findings") or [])
    open_findings = [f for f in findings if not f.get("accepted")]
    accepted_findings = [f for f in findings if f.get("accepted")]
    verdict = str(results.get("verdict") or "error")
    ops_view = [
        {
            **op,
            "score": _score(int(op.get("agreeing") or 0), int(op.get("cases") or 0)),
            "legacy_codes": _codes(op, "legacy"),
            "candidate_codes": _codes(op, "candidate"),
        }
        for op in operations
    ]
    context = {
        "r": results,
        "verdict": verdict,
        "verdict_text": VERDICT_TEXT.get(verdict, verdict),
        "score": _score(agreeing, cases),
        "cases": cases,
        "agreeing": agreeing,
        "operations": ops_view,
        "open_findings": [_finding_view(f) for f in open_findings],
        "accepted_findings": [_finding_view(f) for f in accepted_findings],
        "changes": _changes(results, previous),
        "findings_chart": _bar_chart(
            [
                (op["id"], int(op.get("findings") or 0), int(op.get("accepted") or 0))
                for op in operations
            ]
        ),
        "latency_chart": _latency_chart(operations),
        "coverage": results.get("coverage") or {},
        "config": results.get("config") or {},
        "targets": results.get("targets") or {},
        "environment": results.get("environment") or {},
        "invariants": results.get("invariants") or [],
        "noise": results.get("noise") or [],
        "accepted_rules": results.get("accepted") or [],
        "errors": results.get("errors") or [],
        "phases": (results.get("config") or {}).get("phases") or [],
        "unproven": results.get("unproven") or [],
        "unproven_phases": results.get("unproven_phases") or [],
        "accepted_inputs": results.get("accepted_inputs") or [],
        "messages": results.get("messages") or [],
        "warnings": results.get("warnings") or [],
        "causes": results.get("causes") or [],
        "traffic": results.get("traffic") or {},
        "gateway_routes": (results.get("gateway") or {}).get("routes") or [],
        "gateway_instances": (results.get("gateway") or {}).get("instances") or [],
        "traffic_gaps": [
            (g["operation"], gap_text(g)) for g in (results.get("traffic") or {}).get("gaps") or []
        ],
        "show_hint": SHOW_HINT,
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_html(
    document: Results | Mapping[str, Any], path: Path, previous: Mapping[str, Any] | None = None
) -> Path:
    results = as_document(document)
    if previous is None:
        previous = find_previous(path, str(results.get("run_id") or ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(results, previous), encoding="utf-8")
    return path
