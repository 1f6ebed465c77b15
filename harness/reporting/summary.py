"""``summary.md``: the verdict and the open findings, for a CI job summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.reporting import as_document
from harness.reporting.results import Results

__all__ = ["render_summary", "write_summary"]

ICON = {"agree": "✅", "drift": "❌", "error": "⚠️", "incomplete": "⚠️"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_summary(document: Results | Mapping[str, Any]) -> str:
    results = as_document(document)
    verdict = str(results.get("verdict") or "error")
    ops = list(results.get("operations") or [])
    cases = sum(int(o.get("cases") or 0) for o in ops)
    agreeing = sum(int(o.get("agreeing") or 0) for o in ops)
    score = f"{100 * agreeing / cases:.1f}%" if cases else "n/a"
    findings = [f for f in results.get("findings") or [] if not f.get("accepted")]
    config = results.get("config") or {}
    lines = [
        f"## {ICON.get(verdict, '')} parity: {verdict.upper()}",
        "",
        f"Parity score **{score}** ({agreeing}/{cases} cases agree), {len(findings)} open "
        f"finding(s), run `{results.get('run_id')}` (profile {config.get('profile')}, "
        f"seed {config.get('seed')}).",
        "",
    ]
    with_findings = [o for o in ops if o.get("findings")]
    if with_findings:
        lines += ["| operation | cases | findings | accepted |", "|---|---:|---:|---:|"]
        lines += [
            f"| `{_cell(o['id'])}` | {o.get('cases', 0)} | {o.get('findings', 0)} "
            f"| {o.get('accepted', 0)} |"
            for o in with_findings
        ]
        lines.append("")
    if findings:
        lines += ["### Top findings", ""]
        for f in sorted(findings, key=lambda f: -int(f.get("count") or 0))[:10]:
            lines.append(
                f"- **{_cell(f.get('kind'))}** `{_cell(f.get('operation'))}` "
                f"`{_cell(f.get('location'))}` x{f.get('count')}: {_cell(f.get('summary'))}"
            )
        lines.append("")
    unproven = [u for u in results.get("unproven") or [] if not u.get("allowed")]
    if unproven:
        lines += ["### Nothing was proven for", ""]
        lines += [f"- `{_cell(u.get('operation'))}`: {_cell(u.get('reason'))}" for u in unproven]
        lines.append("")
    lax = results.get("accepted_inputs") or []
    if lax:
        lines += ["### Accepted input (the contract forbids it, both sides accept it)", ""]
        lines += [
            f"- `{_cell(a.get('operation'))}` x{a.get('count')} ({_cell(a.get('statuses'))}): "
            f"{_cell('; '.join(a.get('breaks') or []))}"
            for a in lax
        ]
        lines.append("")
    blind = results.get("unproven_phases") or []
    if blind:
        lines += ["### Phases that proved nothing", ""]
        lines += [f"- `{_cell(p.get('phase'))}`: {_cell(p.get('reason'))}" for p in blind]
        lines.append("")
    for warning in results.get("warnings") or []:
        lines.append(f"> warning: {_cell(warning)}")
    if results.get("warnings"):
        lines.append("")
    gen = (results.get("stats") or {}).get("generation_errors_by_type") or {}
    if gen:
        lines.append(
            "Generation errors by type: " + ", ".join(f"{k} x{v}" for k, v in sorted(gen.items()))
        )
        lines.append("")
    for error in results.get("errors") or []:
        lines.append(f"> **{_cell(error.get('kind', 'error'))}**: {_cell(error.get('message'))}")
    lines.append("The full report is `parity.html` in the run's folder.")
    return "\n".join(lines) + "\n"


def write_summary(results: Results | Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_summary(results), encoding="utf-8")
    return path
