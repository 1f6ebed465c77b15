"""JUnit XML for CI: one test case per contract operation and per invariant."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.cases.masking import SHOW_HINT
from harness.reporting import as_document
from harness.reporting.results import Results

__all__ = ["junit_tree", "write_junit"]


def _finding_text(finding: Mapping[str, Any]) -> str:
    lines = [
        f"{finding.get('kind')} at {finding.get('location')} ({finding.get('count')} cases)",
        str(finding.get("summary") or ""),
    ]
    for step in (finding.get("example") or {}).get("steps") or []:
        for side, curl in (step.get("curl") or {}).items():
            lines.append(f"{side}: {curl}")
        if step.get("masked"):
            lines.append(f"masked: {'; '.join(step['masked'])} ({SHOW_HINT})")
    return "\n".join(lines)


def junit_tree(document: Results | Mapping[str, Any]) -> ET.Element:
    results = as_document(document)
    unproven = {
        str(u.get("operation")): u for u in results.get("unproven") or [] if not u.get("allowed")
    }
    by_op: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for finding in results.get("findings") or []:
        by_op[str(finding.get("operation"))].append(finding)
    suites = ET.Element("testsuites", name="parity")
    suite = ET.SubElement(
        suites, "testsuite", name="parity", timestamp=str(results.get("started_at") or "")
    )
    tests = failures = errors = skipped = 0
    for op in results.get("operations") or []:
        op_id = str(op["id"])
        case = ET.SubElement(suite, "testcase", classname="parity.operations", name=op_id, time="0")
        tests += 1
        open_findings = [f for f in by_op.get(op_id, []) if not f.get("accepted")]
        accepted = [f for f in by_op.get(op_id, []) if f.get("accepted")]
        if not op.get("cases") and op.get("method") != "*":
            failures += 1
            ET.SubElement(
                case, "failure", message="no case was sent for this operation", type="untested"
            )
        elif op_id in unproven:
            failures += 1
            ET.SubElement(
                case,
                "failure",
                message=f"nothing was proven: {unproven[op_id].get('reason')}",
                type="unproven",
            )
        if open_findings:
            if not case.findall("failure"):
                failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(open_findings)} finding(s): "
                + "; ".join(f"{f.get('kind')} at {f.get('location')}" for f in open_findings),
                type="drift",
            )
            failure.text = "\n\n".join(_finding_text(f) for f in open_findings)
        out = [f"{op.get('cases', 0)} cases, {op.get('agreeing', 0)} agreeing"]
        out += [
            f"accepted: {f.get('kind')} at {f.get('location')}: {f.get('accepted_reason')}"
            for f in accepted
        ]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    for inv in results.get("invariants") or []:
        case = ET.SubElement(
            suite, "testcase", classname="parity.invariants", name=str(inv.get("name")), time="0"
        )
        tests += 1
        if inv.get("skipped"):
            skipped += 1
            ET.SubElement(case, "skipped", message=str(inv.get("message") or "not checked"))
        elif not inv.get("passed", True):
            failures += 1
            ET.SubElement(
                case, "failure", message=str(inv.get("message") or "broken"), type="invariant"
            )
    gen_errors = (results.get("stats") or {}).get("generation_errors_by_type") or {}
    if gen_errors:
        case = ET.SubElement(suite, "testcase", classname="parity.run", name="generation", time="0")
        tests += 1
        ET.SubElement(case, "system-out").text = "generation errors by type: " + ", ".join(
            f"{k} x{v}" for k, v in sorted(gen_errors.items())
        )
    if results.get("verdict") == "error":
        case = ET.SubElement(suite, "testcase", classname="parity.run", name="run", time="0")
        tests += 1
        errors += 1
        problems = results.get("errors") or [{"message": "parity could not reach a verdict"}]
        error = ET.SubElement(
            case, "error", message=str(problems[0].get("message")), type="harness"
        )
        error.text = "\n\n".join(f"{p.get('message')}\n{p.get('log_tail') or ''}" for p in problems)
    for element in (suite, suites):
        element.set("tests", str(tests))
        element.set("failures", str(failures))
        element.set("errors", str(errors))
        element.set("skipped", str(skipped))
        element.set("time", str(results.get("duration_s") or 0))
    return suites


def write_junit(results: Results | Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(junit_tree(results))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
