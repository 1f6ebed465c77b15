from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# generation in fresh Python processes
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import hashlib
from pathlib import Path
from harness.setup.contract import load_contract
from harness.cases.generation import generate_cases

c = load_contract(Path("contracts/openapi.yaml"))
for op_id in ("POST /api/upload", "POST /api/cases", "GET /api/cases"):
    reqs = generate_cases(c.get(op_id), run_seed=9, positive=15, negative=10,
                          roles=["admin", None], strip_headers=["authorization"],
                          strip_cookies=True)
    print(op_id, len(reqs), hashlib.sha1(repr([r.signature() for r in reqs]).encode()).hexdigest())
"""


def test_same_seed_gives_identical_requests_across_processes() -> None:
    """Hash randomization, random multipart boundaries and the like must not leak in."""
    outs = [
        subprocess.run(
            [sys.executable, "-c", SCRIPT],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        for _ in range(2)
    ]
    assert outs[0].count("\n") == 3
    assert outs[0] == outs[1]
