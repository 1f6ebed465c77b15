"""Databases: what each request wrote on each target, and how to put it back.

Enters: a target's database (a SQLite file or a PostgreSQL URL). Leaves: ``Writes`` (rows
inserted, updated, deleted per table; ``harness.models``) from a ``watcher.Watcher``
(``sqlite.DbWatcher``, ``postgres.PgWatcher``), restores, ``load`` (a snapshot into
PostgreSQL) and ``invariants`` (the user's checks over a database; the public API is
re-exported by ``harness``). May import: compare (normalization of JSON text), cases,
setup, errors, models.
"""
