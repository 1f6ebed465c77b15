"""``parity coverage results.json``: per operation, the documented responses both sides gave
and the phases that reached them, the undocumented statuses seen, and the row states sent.

A drift parity never sends a request for is a drift it never finds; this table says, for
each operation, which success and error paths a run actually reached on both sides, and
how (generated cases, existing rows, a row created first, sequences, interop).
"""

from __future__ import annotations

from harness.reporting.results import OperationSummary, ResponseReached, Results
from harness.setup.contract import match_operation

__all__ = ["coverage_counts", "coverage_table"]

_SHORT = {
    "stateless": "gen",
    "rows": "rows",
    "rows:created": "created",
    "stateful": "seq",
    "interop": "interop",
    "realtime": "rt",
    "shrink": "shrink",
}


def _chosen(results: Results, operations: list[str] | None) -> list[OperationSummary]:
    ops = [op for op in results.operations if op.id != "probes"]
    if operations:
        ops = [op for op in ops if any(match_operation(p, op.id) for p in operations)]
    return ops


def _documented(op: OperationSummary) -> list[ResponseReached]:
    return [r for r in op.responses if r.documented and r.status.isdigit()]


def coverage_counts(results: Results, operations: list[str] | None = None) -> dict[str, int]:
    """Documented (operation, status) pairs: in all, given by both sides in one exchange,
    given by the legacy."""
    ops = _chosen(results, operations)
    total = both = legacy = 0
    for op in ops:
        documented = _documented(op)
        total += len(documented)
        both += sum(1 for r in documented if r.both)
        legacy += sum(1 for r in documented if r.legacy)
    return {"operations": len(ops), "total": total, "both": both, "legacy": legacy}


def _cell(r: ResponseReached) -> str:
    if r.both:
        how = ",".join(_SHORT.get(p, p) for p in r.phases)
        return f"{r.status} ✓ ({how})"
    if r.legacy or r.candidate:
        return f"{r.status} ~ (L{r.legacy}/C{r.candidate})"
    return f"{r.status} ✗"


def coverage_table(
    results: Results, operations: list[str] | None = None, *, states: bool = False
) -> str:
    """A Markdown table, one row per operation, and the counts under it."""
    ops = _chosen(results, operations)
    lines = [
        "| operation | documented responses (✓ both sides, by phase; ~ one side; ✗ never) "
        "| other statuses | row states |",
        "|---|---|---|---|",
    ]
    for op in ops:
        documented = " · ".join(_cell(r) for r in _documented(op)) or "(none recorded)"
        other = " · ".join(
            f"{r.status} (L{r.legacy}/C{r.candidate})" for r in op.responses if not r.documented
        )
        lines.append(f"| {op.id} | {documented} | {other or '-'} | {len(op.row_states) or '-'} |")
    counts = coverage_counts(results, operations)
    lines += [
        "",
        f"documented responses both sides gave: {counts['both']}/{counts['total']} "
        f"(the legacy gave {counts['legacy']}) over {counts['operations']} operations; "
        "phases: gen = generated cases and [fixtures], rows = existing rows, created = a row "
        "created first through a linked operation, seq = stateful sequences",
    ]
    if states:
        for op in ops:
            if op.row_states:
                lines += ["", f"{op.id}:", *(f"  - {s}" for s in op.row_states)]
    return "\n".join(lines) + "\n"
