"""What each replayed request covers of the port, for ``parity traffic reduce --coverage``.

``python -m harness.traffic.covering --data FILE --source DIR -- PYTHON -m MODULE ...`` runs a
Python service under coverage.py (branch coverage of ``DIR``) with one dynamic context per
request: a tiny ASGI middleware, wrapped around the app that uvicorn loads, switches the
context to the request's ``x-parity-capture`` header (``<file>#<seq>``, which the replay
sends with each captured request) and back after the answer. Requests are replayed one at a
time, so a context holds exactly what its request ran (threads included). On SIGTERM uvicorn
shuts down and the data is saved. ``arcs_by_entry`` reads the data back: capture seq -> the
arcs its request ran.

Needs the ``coverage`` extra (``pip install 'parity[coverage]'``) in the service's Python and
a service served by uvicorn in one process (``workers = 1``)."""

from __future__ import annotations

import argparse
import runpy
import sqlite3
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

__all__ = ["CONTEXT_HEADER", "arcs_by_entry", "main", "wrap_command"]

CONTEXT_HEADER = "x-parity-capture"  # harness.traffic.replay.ENTRY_HEADER
Arc = tuple[str, int, int]  # (file, from line, to line); negative lines: entry and exit
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class ContextPerRequest:
    """ASGI middleware: the coverage context is the request's ``x-parity-capture`` header
    while it runs (none: the empty context, which nothing reads)."""

    def __init__(self, app: ASGIApp, switch: Callable[[str], object]) -> None:
        self.app = app
        self.switch = switch

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        name = None
        if scope.get("type") == "http":
            for key, value in scope.get("headers") or ():
                if key.lower() == CONTEXT_HEADER.encode():
                    name = value.decode("latin-1")
        if name is None:
            await self.app(scope, receive, send)
            return
        self.switch(name)
        try:
            await self.app(scope, receive, send)
        finally:
            self.switch("")


def wrap_command(command: list[str], data: Path, source: Path) -> list[str]:
    """A Python service's argv (``PYTHON -m MODULE ...`` or ``PYTHON SCRIPT ...``) run under
    this launcher; ValueError when it is not one (coverage.py measures Python only)."""
    if len(command) < 2 or ("python" not in Path(command[0]).name and command[0] != "{python}"):
        raise ValueError(
            f"--coverage needs a Python candidate (PYTHON -m MODULE or PYTHON SCRIPT): {command}"
        )
    launcher = [command[0], "-m", "harness.traffic.covering", "--data", str(data)]
    return [*launcher, "--source", str(source), "--", *command[1:]]


def _install(switch: Callable[[str], object]) -> None:
    """Wrap every app uvicorn loads (the service's own ``uvicorn.run``) in the middleware, in
    one process (workers would run untraced and reloads restart it)."""
    from uvicorn.config import Config

    init, load = Config.__init__, Config.load

    def one_process(self: Config, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.workers, self.reload = 1, False

    def loading(self: Config) -> None:
        load(self)
        self.loaded_app = ContextPerRequest(self.loaded_app, switch)

    Config.__init__ = one_process  # type: ignore[method-assign]
    Config.load = loading  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.traffic.covering")
    parser.add_argument("--data", type=Path, required=True, help="coverage data file to write")
    parser.add_argument("--source", type=Path, required=True, help="the code to measure")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="-- -m MODULE ... | SCRIPT ...")
    args = parser.parse_args(argv)
    target = args.target[1:] if args.target[:1] == ["--"] else args.target
    if not target or (target[0] == "-m" and len(target) < 2):
        parser.error("give -- -m MODULE [ARGS] or -- SCRIPT [ARGS]")
    import coverage

    cov = coverage.Coverage(
        data_file=str(args.data), branch=True, source=[str(args.source.resolve())]
    )
    cov.start()
    try:
        _install(cov.switch_context)
        if target[0] == "-m":
            sys.argv = [target[1], *target[2:]]
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(target)
            runpy.run_path(target[0], run_name="__main__")
    finally:
        cov.stop()
        cov.save()
    return 0


def arcs_by_entry(data: Path) -> dict[int, frozenset[Arc]]:
    """Capture seq -> the arcs its request ran (contexts named ``<file>#<seq>``). Read from the
    data file's tables (coverage.py's public API answers per file or per context; one query
    here answers for ten thousand requests)."""
    out: dict[int, set[Arc]] = defaultdict(set)
    con = sqlite3.connect(f"file:{data}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT context.context, file.path, arc.fromno, arc.tono FROM arc "
            "JOIN context ON context.id = arc.context_id JOIN file ON file.id = arc.file_id"
        )
        for context, path, start, end in rows:
            _, sep, seq = str(context).rpartition("#")
            if sep and seq.isdigit():
                out[int(seq)].add((str(path), int(start), int(end)))
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{data}: not coverage.py branch data ({exc})") from exc
    finally:
        con.close()
    return {seq: frozenset(arcs) for seq, arcs in out.items()}


if __name__ == "__main__":
    sys.exit(main())
