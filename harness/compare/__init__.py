"""Compare: two responses (and two sets of writes) in, differences and findings out.

Enters: ``Response`` and ``Writes`` of both targets (``harness.models``) and the rules of
``parity.toml``. Leaves: ``Difference`` lists (``comparison``, after ``normalization``),
grouped, accepted and shrunk into ``findings.Findings``; ``noise`` (what the legacy
disagrees with itself about). The only place deepdiff is imported.
May import: cases (shrinking rebuilds requests), setup, errors, models.
"""
