"""``python -m tests.mutants.launcher``: the port with one mutant applied, served like ``python -m backend``.

Reads ``PARITY_MUTANT`` (a catalogue name; empty or unset = the unmutated port), builds
``backend.app.create_app()`` wrapped and hooked as the mutant says, and serves it with
uvicorn on 127.0.0.1:$PORT over $DATABASE_PATH: a drop-in candidate command for parity.toml.
"""

from __future__ import annotations

import os
import sys

import uvicorn
from starlette.types import ASGIApp

from tests.mutants.catalogue import get
from tests.mutants.mechanics import OperationContext, compose


def build_app(name: str | None) -> ASGIApp:
    """The port's ASGI app with mutant ``name`` applied (process-wide hooks included)."""
    from backend.app import create_app

    app = create_app()
    if not name:
        return app
    wrappers = get(name).build()
    return OperationContext(compose(app, wrappers))


def main() -> None:
    name = os.environ.get("PARITY_MUTANT", "").strip() or None
    from backend.settings import get_settings

    settings = get_settings()
    app = build_app(name)
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
