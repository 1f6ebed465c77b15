"""Scale: one run's work over several jobs, and their results read back as one.

Enters: an ``Engine`` to run per worker, or the ``results.json`` of each shard.
Leaves: one ``Results``. ``workers`` is ``parity run --workers N`` (N pairs on one
machine), ``merge`` is ``parity merge``. May import: run and every stage below it.
"""
