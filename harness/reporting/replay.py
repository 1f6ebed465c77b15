"""``replay/<finding-id>.sh``: per finding, a bash script that sends its example to both
services with curl, as-is, and shows the two answers.

The base URLs are ``$LEGACY_URL`` and ``$CANDIDATE_URL`` and a role's token
``$LEGACY_TOKEN_<ROLE>`` / ``$CANDIDATE_TOKEN_<ROLE>`` (each side has its own), sent with the
configured header and prefix, so the script runs against any running copy of the pair.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from harness.cases.masking import SHOW_HINT
from harness.reporting.results import Finding, Results

__all__ = ["replay_script", "write_replay"]

_VAR = re.compile(r"\$\{((?:LEGACY|CANDIDATE)_(?:TOKEN_[A-Z0-9_]+|URL))\}")


def replay_script(results: Results, finding: Finding) -> str:
    steps = finding.example.steps
    lines = [
        "#!/usr/bin/env bash",
        f"# parity replay of {finding.id}: {finding.operation} · {finding.location} "
        f"({finding.kind})",
        *(f"#   {line}" for line in finding.summary.splitlines()),
        f"# run {results.run_id} (profile {results.config.profile}, seed {results.config.seed})",
        "# Sends the example to both services with curl and shows the two answers.",
    ]
    variables: dict[str, None] = {"LEGACY_URL": None, "CANDIDATE_URL": None}
    for step in steps:
        for line in step.replay.values():
            variables.update(dict.fromkeys(_VAR.findall(line)))
    lines.append("# Needs: " + " ".join(f"${v}" for v in variables))
    for key in ("legacy", "candidate"):
        base = results.targets[key].base_url if key in results.targets else None
        if base:
            lines.append(f"#   the run's {key}: {base}")
    lines.append("#   a token: what a login as that role returned on that side ([auth] login)")
    masked = list(dict.fromkeys(m for step in steps for m in step.masked))
    if masked:
        lines.append("# Masked: " + "; ".join(masked) + " - put a stored value in its place,")
        lines.append(f"#   or: {SHOW_HINT}")
    source = finding.capture
    if source is not None:
        lines.append(f"# From captured traffic: {source.entry} (caller {source.caller}).")
        if source.chain:
            lines += [
                f"# With --chain: replays it from the snapshot with the {source.chain_length} "
                "captured requests it needs (parity run --traffic).",
                'if [ "${1:-}" = "--chain" ]; then',
                '  here="$(cd "$(dirname "$0")" && pwd)"',
                "  exec parity run --config "
                + shlex.quote(results.config.config)
                + f' --traffic "$here/../{source.chain}"',
                "fi",
            ]
    lines += [
        "set -u",
        "missing=0",
        "for var in " + " ".join(variables) + "; do",
        '  if [ -z "${!var:-}" ]; then echo "replay: set $var" >&2; missing=1; fi',
        "done",
        '[ "$missing" = 0 ] || exit 2',
    ]
    for key in ("legacy", "candidate"):
        for n, step in enumerate(steps, 1):
            req = (
                step.candidate_request
                if key == "candidate" and step.candidate_request
                else step.request
            )
            seen = getattr(step, key).status
            title = f"{key}: {req.method} {req.path}" + (f" (step {n})" if len(steps) > 1 else "")
            lines += [
                "",
                f"echo {shlex.quote('==== ' + title + f' [the run saw {seen}] ====')}",
                step.replay.get(key) or step.curl.get(key, "true"),
                "echo",
            ]
    return "\n".join(lines) + "\n"


def write_replay(results: Results, out_dir: Path) -> list[Path]:
    """One script per finding, under ``out_dir/replay/`` (executable)."""
    folder = out_dir / "replay"
    written: list[Path] = []
    for finding in results.findings:
        if not finding.example.steps:
            continue
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{finding.id}.sh"
        path.write_text(replay_script(results, finding), encoding="utf-8")
        path.chmod(0o755)
        written.append(path)
    return written
