"""Cases: the requests a run sends, drawn from the contract reproducibly.

Enters: ``Contract``/``Operation`` and ``Profile`` (setup), a seed. Leaves: ``PreparedRequest``
(models) lists per operation, from ``source.CaseSource`` (generation in a spawned worker and
the case cache), ``edges`` (limits), ``fixtures`` (named real rows), ``files`` (multipart
parts), ``sequences`` (lockstep runs along OpenAPI links), ``datavalues`` (values learned
from the data), ``masking`` (a request as reports show it: a user's data as placeholders).
May import: setup, errors, models.
"""

from __future__ import annotations

from typing import Any

from harness._moved import forward

# the flat layout's module harness.cases is now harness.cases.source: its names are forwarded,
# with a DeprecationWarning, for one release
_OLD_NAMES = frozenset(["CaseSource", "GenJob", "request_from_json", "request_to_json"])


def __getattr__(name: str) -> Any:
    return forward(__name__, "harness.cases.source", _OLD_NAMES, name)
