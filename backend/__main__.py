"""``python -m backend``: serve the port with uvicorn on 127.0.0.1:$PORT."""

from __future__ import annotations

import uvicorn

from backend.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "backend.app:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=True,
    )


if __name__ == "__main__":
    main()
