"""parity: prove a port answers and writes like the service it replaces.

The public API, for contract files (``contracts/invariants.py``) and tools built on parity;
imported lazily so ``import harness`` stays cheap and ``parity --help`` loads nothing extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness import _moved

__all__ = [
    "Invariant",
    "InvariantContext",
    "ParityConfig",
    "StepInfo",
    "invariant",
    "load_config",
]
# The results models (the pydantic document reporters read) join this list once
# harness/reporting/results.py lands (the engine refactor); until then results.json is the
# interface.

_EXPORTS = {
    "Invariant": "harness.db.invariants",
    "InvariantContext": "harness.db.invariants",
    "StepInfo": "harness.db.invariants",
    "invariant": "harness.db.invariants",
    "ParityConfig": "harness.setup.config",
    "load_config": "harness.setup.config",
}

# the flat layout's import paths (harness.config, harness.invariants, ...), for one release
_moved.install()

if TYPE_CHECKING:
    from harness.db.invariants import Invariant, InvariantContext, StepInfo, invariant
    from harness.setup.config import ParityConfig, load_config


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
