"""``python -m tests.mutants.worker``: the port's job worker (``backend.worker``) with the
mutant named in ``PARITY_MUTANT`` applied, for mutants of background work: the launcher's
patches live in the server process, and the port runs its jobs in a process of its own
(``backend.app`` starts ``$JOBS_WORKER_MODULE``, which a job mutant points here)."""

from __future__ import annotations

import os

from backend.worker import main
from tests.mutants.catalogue import get

if __name__ == "__main__":
    name = os.environ.get("PARITY_MUTANT", "").strip()
    if name:
        get(name).build()  # its process-wide patches; wrappers are for the server
    main()
