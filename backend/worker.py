"""``python -m backend.worker``: the port's job worker, a process of its own started with the
app (``backend.app`` lifespan). It polls ``jobs`` and runs what it claims; it stops when the
process that started it is gone (a killed server takes its worker with it)."""

from __future__ import annotations

import logging
import os
import sys
import time

from backend.db import open_session
from backend.jobs import work_queued

log = logging.getLogger("backend.worker")


def main() -> None:
    poll_s = float(os.environ.get("JOBS_POLL_MS", "100")) / 1000
    parent = os.getppid()
    while os.getppid() == parent:
        try:
            with open_session() as session:
                work_queued(session)
        except Exception:  # a failed tick (a locked database) is retried on the next one
            log.exception("job worker tick failed")
        time.sleep(poll_s)
    sys.exit(0)


if __name__ == "__main__":
    main()
