"""Several gateways side by side: each instance's name (``[gateway] instance``) goes into the
paths it writes, so no instance clobbers another's results or capture; ``parity gateway
merge`` reads them back as one."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from harness.errors import HarnessError
from harness.setup.gateway import INSTANCE_PATTERN, GatewayConfig

__all__ = ["AUTO", "capture_path", "check_name", "instance_name", "results_dir"]

AUTO = "auto"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_name(text: str) -> str:
    """``--instance``: the same rule as ``[gateway] instance``."""
    if not re.fullmatch(INSTANCE_PATTERN, text):
        raise HarnessError(
            f"--instance {text!r}: letters, digits, '.', '_' and '-' only (64 at most)",
            kind="input",
        )
    return text


def instance_name(
    gw: GatewayConfig, *, host: str | None = None, pid: int | None = None
) -> str | None:
    """The configured name; ``auto``: ``<host>-<pid>`` (unique per running process, new on
    every start); None when unset (a single gateway, the paths as configured)."""
    if not gw.instance:
        return None
    if gw.instance != AUTO:
        return gw.instance
    host = _UNSAFE.sub("-", (host or socket.gethostname()).split(".")[0]).strip("-.") or "host"
    return f"{host[:40]}-{pid if pid is not None else os.getpid()}"


def results_dir(base: Path, name: str | None) -> Path:
    """``<results>/<instance>``: one directory per instance (results.json inside)."""
    return base / name if name else base


def capture_path(path: Path, name: str | None) -> Path:
    """``capture.jsonl`` -> ``capture-<instance>.jsonl`` beside it."""
    if not name:
        return path
    return path.with_name(f"{path.stem}-{name}{path.suffix}")
