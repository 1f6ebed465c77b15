"""Run: the orchestrator and the phases; the one stage that wires the others together.

Enters: ``ParityConfig``, ``Contract`` and ``engine.RunOptions``. Leaves: ``Results``
(``harness.reporting.results``) and the events a listener sees on the way
(``RunStarted``, ``CaseDone``, ...). ``engine`` plans the phases and opens the pair;
``context.RunContext`` is what every phase gets; ``phases/`` (one module a phase, each
independent of the others); ``outcome`` builds the results; ``partition`` and ``sharding``
are ``--shard i/n``; ``invariant_log`` runs the user's invariants after each step;
``traffic_coverage`` replays a capture with the candidate under coverage.py (``parity
traffic reduce --coverage``).
May import: reporting, pair, db, compare, cases, setup, errors, models.
"""
