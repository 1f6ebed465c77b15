"""Terminal output: live progress per operation, then a summary table and the findings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.cases.masking import SHOW_HINT
from harness.reporting import as_document
from harness.reporting.results import (
    CaseDone,
    OperationFinished,
    OperationStarted,
    Results,
    RunStarted,
    gap_text,
)

__all__ = ["ConsoleListener", "print_summary", "route_lines"]

_VERDICT_STYLE = {
    "agree": "bold green",
    "drift": "bold red",
    "error": "bold magenta",
    "incomplete": "bold magenta",
}


class ConsoleListener:
    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(stderr=False, highlight=False)
        self.quiet = quiet
        self.progress: Progress | None = None
        self.task: Any = None
        self.drift = 0

    def run_started(self, event: RunStarted) -> None:
        if self.quiet:
            return
        self.console.print(
            f"[bold]parity[/] run {event.run_id}  profile={event.profile} "
            f"seed={event.seed} mode={event.mode}  "
            f"{len(event.operations)} operation(s)  -> {event.run_dir}"
        )
        self.progress = Progress(
            TextColumn("{task.description}", style="cyan"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"[dim]{text}[/]")

    def operation_started(self, event: OperationStarted) -> None:
        self.drift = 0
        if self.progress is not None:
            self.task = self.progress.add_task(event.label, total=event.total, status="")

    def case_done(self, event: CaseDone) -> None:
        if not event.agreed:
            self.drift += 1
        if self.progress is not None and self.task is not None:
            status = f"[red]{self.drift} differing[/]" if self.drift else "[green]agree[/]"
            self.progress.update(self.task, advance=1, status=status)

    def operation_finished(self, event: OperationFinished) -> None:
        if self.progress is not None and self.task is not None:
            findings = event.summary.findings
            status = f"[red]{findings} finding(s)[/]" if findings else "[green]agree[/]"
            self.progress.update(self.task, status=status)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def print_summary(
    document: Results | Mapping[str, Any],
    console: Console | None = None,
    *,
    tables: bool = True,
) -> None:
    results: Any = as_document(document)
    console = console or Console(highlight=False)
    if tables:
        _print_tables(results, console)
    _print_footer(results, console)


def _print_tables(results: Any, console: Console) -> None:
    table = Table(title="operations", show_lines=False)
    for col in ("operation", "cases", "agreeing", "findings", "accepted", "legacy p50", "cand p50"):
        table.add_column(col, justify="left" if col == "operation" else "right")
    for op in results.get("operations", []):
        lat = op.get("latency_ms", {})
        table.add_row(
            op["id"],
            str(op["cases"]),
            str(op["agreeing"]),
            f"[red]{op['findings']}[/]" if op["findings"] else "0",
            str(op["accepted"]),
            f"{lat.get('legacy', {}).get('p50', 0):.1f}ms",
            f"{lat.get('candidate', {}).get('p50', 0):.1f}ms",
        )
    if results.get("operations"):
        console.print(table)
    findings = results.get("findings", [])
    if findings:
        ft = Table(title="findings (grouped by operation, location, kind)")
        for col in ("", "operation", "location", "kind", "count", "summary"):
            ft.add_column(col)
        for f in findings:
            mark = "[yellow]accepted[/]" if f["accepted"] else "[red]drift[/]"
            places = len(f.get("locations") or [])
            where = f["location"] + (f" (+{places - 1} more)" if places > 1 else "")
            ft.add_row(mark, f["operation"], where, f["kind"], str(f["count"]), f["summary"][:120])
        console.print(ft)
        for f in findings:
            if f["accepted"]:
                continue
            step = f["example"]["steps"][0]
            console.print(f"[bold red]{f['id']}[/] {f['operation']} {f['location']} ({f['kind']})")
            for key in ("legacy", "candidate"):
                curl = step.get("curl", {}).get(key)
                if curl:
                    console.print(f"  {key}: {curl}", soft_wrap=True, markup=False)
            if step.get("masked"):
                console.print(
                    f"  masked: {'; '.join(step['masked'])} ({SHOW_HINT})",
                    soft_wrap=True,
                    markup=False,
                )


def _print_footer(results: Any, console: Console) -> None:
    findings = results.get("findings", [])
    for err in results.get("errors", []):
        console.print(
            f"[bold magenta]error[/] ({err.get('kind')}): {err.get('message')}", soft_wrap=True
        )
        if err.get("log_tail"):
            console.print(err["log_tail"], markup=False, soft_wrap=True)
    for msg in results.get("messages", []):
        console.print(f"[bold red]{msg}[/]", soft_wrap=True)
    for u in results.get("unproven", []):
        tag = "allowed unproven" if u.get("allowed") else "unproven"
        console.print(f"[magenta]{tag}[/] {u['operation']}: {u['reason']}", soft_wrap=True)
    multi = [c for c in results.get("causes", []) if len(c["operations"]) > 1]
    for cause in multi[:10]:
        ops = ", ".join(f"{k} x{v}" for k, v in list(cause["operations"].items())[:6])
        console.print(
            f"[red]cause[/] {cause['location']} ({cause['kind']}, {cause['shape']}) on "
            f"{len(cause['operations'])} operations: {ops}",
            soft_wrap=True,
        )
    for warning in results.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    traffic = results.get("traffic") or {}
    for gap in traffic.get("gaps") or []:
        console.print(
            f"contract gap {gap['operation']}: {gap_text(gap)}",
            style="cyan",
            soft_wrap=True,
            markup=False,
        )
    if traffic.get("overlay"):
        console.print(f"suggested Overlay adding them: {traffic['overlay']}", soft_wrap=True)
    for line in route_lines(results):
        console.print(line, soft_wrap=True, markup=False)
    gen = (results.get("stats") or {}).get("generation_errors_by_type") or {}
    if gen:
        console.print(
            "[yellow]generation errors by type:[/] "
            + ", ".join(f"{k} x{v}" for k, v in sorted(gen.items())),
            soft_wrap=True,
        )
    stats = results.get("stats") or {}
    if (results.get("config") or {}).get("mode") == "external" and stats.get("resets"):
        console.print(
            f"resets: {stats['resets']} reset_command run(s), "
            f"{(stats.get('timings_s') or {}).get('reset', 0):.1f}s (batched: only before a "
            "case that could observe an earlier write)",
            soft_wrap=True,
        )
    skipped = (results.get("config") or {}).get("probes_skipped") or []
    if skipped:
        console.print(
            "probes skipped ([probes]): " + ", ".join(skipped), soft_wrap=True, markup=False
        )
    retried = {key: t.get("retries") or 0 for key, t in (results.get("targets") or {}).items()}
    if any(retried.values()):
        console.print(
            "retries: "
            + ", ".join(f"{key} {n}" for key, n in retried.items() if n)
            + " request(s) re-sent on a fresh connection after a dropped one",
            soft_wrap=True,
        )
    verdict = results.get("verdict", "error")
    drift = sum(1 for f in findings if not f["accepted"])
    accepted = sum(1 for f in findings if f["accepted"])
    cases = sum(op.get("cases", 0) for op in results.get("operations", []))
    console.print(
        f"[{_VERDICT_STYLE.get(verdict, 'bold')}]{verdict.upper()}[/]"
        f"  exit {results.get('exit_code')}"
        f"  {cases} case(s), {drift} finding(s), {accepted} accepted, "
        f"{results.get('duration_s', 0)}s  seed={results.get('config', {}).get('seed')}"
    )


def route_lines(results: Mapping[str, Any]) -> list[str]:
    """A line per gateway route: mode, agreement, drops, fallbacks, breaker, latency."""
    lines = []
    for r in (results.get("gateway") or {}).get("routes") or []:
        mode = r["mode"] + (f" {r['percent']:g}%" if r.get("percent") is not None else "")
        dropped = ", ".join(f"{k} {v}" for k, v in r.get("shadows_dropped", {}).items()) or "0"
        lat = r.get("latency_ms") or {}
        times = "; ".join(
            f"{side} p50/p95 {v['p50']}/{v['p95']} ms" for side, v in lat.items() if v is not None
        )
        eligible = r.get("eligible") or 0
        coverage = (
            f"{r.get('shadowed', 0)} of {eligible} shadowed "
            f"({100 * r.get('shadowed', 0) / eligible:.0f}%); "
            if eligible
            else ""
        )
        breaker = r.get("breaker")
        flips = len(r.get("breaker_transitions") or [])
        lines.append(
            f"route {r['route']} ({mode}): {coverage}"
            f"{r['compared']} compared, {r['agreeing']} agree, "
            f"{r['differing']} disagree, {r['raced']} raced ({r['raced_cleared']} cleared); "
            f"shadows dropped {dropped}; {r.get('fallbacks', 0)} fallbacks"
            + (f"; breaker {breaker} ({flips} transitions)" if breaker else "")
            + (f"; {times}" if times else "")
        )
    return lines
