# Deprecated path (see harness/_moved.py): its types, for users' contracts/invariants.py
# checked by mypy until they import from ``harness`` (or harness.db.invariants).
from harness.db.invariants import *  # noqa: F403
