"""Setup: what a run is asked to do, read and checked before anything starts.

Enters: ``parity.toml`` and the files it names (the OpenAPI contract, overlays).
Leaves: ``config.ParityConfig`` (with its ``Profile``s and rule lists) and
``contract.Contract`` (``Operation``s and ``Link``s); a broken file is a ``HarnessError``
naming the file and the place, before any service starts.
May import: ``harness.errors``, ``harness.models`` (nothing else of parity).
"""
