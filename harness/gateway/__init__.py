"""``parity gateway``: serves real traffic from the legacy, shadows reads to the port at the
same moment, compares the answers off the serving loop and captures every exchange.

Enters: a ``ParityConfig`` (its ``[gateway]`` section) and the contract. Leaves: client
answers, ``results.json`` (a ``Results`` document ``parity report`` renders), a capture,
``/metrics``. Imports traffic, compare, reporting, setup, proc; nothing above it.

Which reads are shadowed: ``sampling`` (a share per route, by correlation id) and
``shedding`` (none while the legacy is under strain, measured on its answers).

Shifting traffic to the port (canary, port): ``identity`` (who a caller is, stably),
``policy`` (which side serves a caller), ``breaker``, ``fallback`` (when the legacy may answer
for a failed port), ``schedule`` (promotion and rollback on evidence), ``state`` (the runtime
route table, persisted, every change logged) and ``shift`` (the object the app calls)."""
