"""``python -m tests.mutants.launcher``: the port with one mutant applied, served like ``python -m backend``.

Reads ``PARITY_MUTANT`` (a catalogue name; empty or unset = the unmutated port), builds
``backend.app.create_app()`` wrapped and hooked as the mutant says, and serves it with
uvicorn on 127.0.0.1:$PORT over $DATABASE_PATH: a drop-in candidate command for parity.toml.

``PARITY_MUTANT_ERRORS`` names a file where every unhandled exception is written. The port
has none (the unmutated run would show its 500s), and no mutant's drift is a crash: a mutant
that crashes its handler (a wrapper whose signature no longer fits the function it wraps,
raising TypeError at the port's call site) would be caught as a 500 on every request
instead of for its drift, so the catalogue test fails on that file.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.mutants.catalogue import get
from tests.mutants.mechanics import OperationContext, compose


def build_app(name: str | None) -> ASGIApp:
    """The port's ASGI app with mutant ``name`` applied (process-wide hooks included)."""
    from backend.app import create_app

    if not name:
        return create_app()
    wrappers = get(name).build()
    # inside the port's compression: a mutant rewrites answers before they are encoded
    return create_app(wrap=lambda app: OperationContext(compose(app, wrappers)))


class MechanicsErrors:
    """Outermost ASGI wrapper: writes down every unhandled exception (Starlette re-raises
    after answering 500), then lets it propagate as before."""

    def __init__(self, app: ASGIApp, log: Path) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            text = "".join(traceback.format_exception(exc))
            with self.log.open("a", encoding="utf-8") as out:
                out.write(f"{scope.get('method')} {scope.get('path')}\n{text}\n")
            raise


def main() -> None:
    name = os.environ.get("PARITY_MUTANT", "").strip() or None
    from backend.settings import get_settings

    settings = get_settings()
    app = build_app(name)
    errors = os.environ.get("PARITY_MUTANT_ERRORS")
    if errors:
        app = MechanicsErrors(app, Path(errors))
    print(f"mutant launcher: {name or 'unmutated port'} on port {settings.port}", file=sys.stderr)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=True,
    )


if __name__ == "__main__":
    main()
