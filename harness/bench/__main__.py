"""``python -m harness.bench``: ``parity bench`` (as before the move)."""

import sys

from harness.bench.services import main

sys.exit(main())
