"""Both services conform to the contract: schemathesis, positive and negative data, every phase.

The command is schemathesis's own CLI, so a failure here reproduces with the printed line.
The default suite draws ``PARITY_CONFORMANCE_EXAMPLES`` (default 10) examples per operation:
every operation, every phase and check, in about a quarter of the time; ``nox -s conformance``
draws the full 50 (it sets the variable).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.servers import ROOT, Service, legacy_built, running, seed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("PARITY_CONFORMANCE_EXAMPLES", "10"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        # not negative_data_rejection: the legacy coerces query numbers with JavaScript's
        # Number() ("" is 0, "0x10" is 16, " 5 " is 5), so some strings schemathesis calls
        # schema-violating are valid input to both services; parity compares their handling
    ]
)


def operation_count() -> int:
    contract = yaml.safe_load((ROOT / "contracts" / "openapi.yaml").read_text())
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(1 for item in contract["paths"].values() for method in item if method in methods)


def command(service: Service, token: str) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(ROOT / "contracts" / "schemathesis.toml"),
        "run",
        str(ROOT / "contracts" / "openapi.yaml"),
        "--url",
        service.url,
        "-H",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--mode",
        "all",
        "--exclude-operation-id",
        "logout",  # it would end the session every other request runs on
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        "1",
        "--no-color",
    ]


@pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)")
@pytest.mark.parametrize("target", ["legacy", "port"])
def test_schemathesis_finds_nothing(target: str, tmp_path: Path) -> None:
    db = tmp_path / f"{target}.db"
    seed(db)
    with running(target, db, tmp_path) as service:
        argv = command(service, service.login("admin"))
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    output = result.stdout + result.stderr
    summary = re.search(r"(\d+) generated, (\d+) passed", output)
    assert result.returncode == 0, output[-6000:]
    assert summary is not None, output[-3000:]
    generated, passed = map(int, summary.groups())
    assert generated == passed
    tested = operation_count() - 1  # every contract operation but logout
    assert generated > tested * 20, f"too few cases generated: {generated}"
    assert f"Tested: {tested}" in output
