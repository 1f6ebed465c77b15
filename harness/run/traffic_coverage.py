"""``parity traffic reduce --coverage``: replay a capture on the managed pair with the
candidate under coverage.py (``harness.traffic.covering``) and say what each captured request
ran of the port."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.run.engine import Engine, RunOptions
from harness.setup.config import load_config
from harness.setup.contract import load_contract
from harness.traffic.covering import arcs_by_entry, wrap_command

__all__ = ["measure"]


def measure(
    config_path: Path, contract_path: Path | None, capture: Path, work: Path | None = None
) -> tuple[dict[int, frozenset[Any]], str]:
    """Capture seq -> the arcs of the candidate's source its replayed request ran, and a line
    saying what the replay found (findings are not the point here; they are counted)."""
    config = load_config(config_path)
    path = contract_path or (
        config.resolve(config.contract) if config.contract else Path("contracts/openapi.yaml")
    )
    contract = load_contract(path, config.overlay_paths())
    service = config.services.get("candidate")
    if service is None:
        raise HarnessError(
            "--coverage runs the candidate under coverage.py: it needs a managed candidate "
            f"([services.candidate] in {config_path})",
            kind="input",
        )
    try:
        import coverage  # noqa: F401  (the extra: checked here, used by the service)
    except ImportError:
        raise HarnessError(
            "--coverage needs coverage.py: pip install 'parity[coverage]'", kind="input"
        ) from None
    with tempfile.TemporaryDirectory(prefix="parity-coverage-", dir=work) as tmp:
        data = Path(tmp) / "port.coverage"
        source = config.resolve(service.source or service.cwd)
        argv = shlex.split(service.command) if isinstance(service.command, str) else service.command
        try:
            wrapped = wrap_command(list(argv), data, source)
        except ValueError as exc:
            raise HarnessError(str(exc), kind="input") from None
        services = {**config.services, "candidate": service.model_copy(update={"command": wrapped})}
        measured = config.model_copy(update={"services": services})
        options = RunOptions(
            contract_path=path,
            config_path=config_path,
            report_dir=Path(tmp) / "reports",
            traffic=[capture],
        )
        results = Engine(contract, measured, options).run()
        if not data.exists():
            raise HarnessError(
                f"--coverage: the candidate wrote no coverage data ({data}); is it served by "
                "uvicorn (harness.traffic.covering)?",
                kind="service",
            )
        try:
            arcs = arcs_by_entry(data)
        except ValueError as exc:
            raise HarnessError(str(exc), kind="service") from None
    figures = results.traffic.figures if results.traffic is not None else {}
    note = (
        f"coverage: {len(arcs)} of {figures.get('requests', '?')} replayed requests ran port "
        f"code ({len(set().union(*arcs.values())) if arcs else 0} arcs); the replay found "
        f"{len(results.findings)} findings"
    )
    return arcs, note
