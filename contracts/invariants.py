"""Database invariants of the customer-operations API, checked on each target after each step.

Each function gets a read-only view of one target's database (``ctx.db``), the step just
replayed (``ctx.step``, with the rows it wrote per table) and, for API-level checks, an
admin ``ctx.api(path)``. A broken invariant on one side only is drift; on both sides it is
a legacy bug the port inherited.
"""

from __future__ import annotations

import json
import sqlite3

from harness import InvariantContext, invariant

TIMESTAMPED = ("users", "cases", "alerts", "feed_items", "uploads")
FTS = {
    "cases_fts": ("cases", ("title", "description", "category", "customer_name")),
    "alerts_fts": ("alerts", ("title", "message")),
    "feed_fts": ("feed_items", ("title", "body")),
}
SEVERITIES = ("info", "warning", "critical")
STATUSES = ("active", "acknowledged", "resolved")


@invariant("foreign_keys_hold")
def foreign_keys_hold(ctx: InvariantContext) -> None:
    """Every foreign key points at an existing row."""
    if ctx.engine != "sqlite":
        return  # PostgreSQL enforces foreign keys itself; SQLite only with the pragma on
    broken = ctx.all("PRAGMA foreign_key_check")
    assert not broken, "dangling foreign keys: " + ", ".join(
        f"{r[0]} row {r[1]} -> {r[2]}" for r in broken[:5]
    )


@invariant("no_session_outlives_its_user")
def no_session_outlives_its_user(ctx: InvariantContext) -> None:
    """A session row always belongs to an existing user."""
    orphans = ctx.scalar(
        "SELECT count(*) FROM sessions WHERE user_id NOT IN (SELECT id FROM users)"
    )
    assert orphans == 0, f"{orphans} session(s) of deleted users"


@invariant("updated_at_not_before_created_at")
def updated_at_not_before_created_at(ctx: InvariantContext) -> None:
    """No row was updated before it was created."""
    for table in TIMESTAMPED:
        bad = ctx.all(f"SELECT id FROM {table} WHERE updated_at < created_at LIMIT 5")
        assert not bad, f"{table}: updated_at < created_at for ids {[r[0] for r in bad]}"


@invariant("fts_in_step_with_base_tables", tables=[base for base, _ in FTS.values()])
def fts_in_step_with_base_tables(ctx: InvariantContext) -> None:
    """Each FTS5 index holds exactly its base table's rows, with their current text."""
    if ctx.engine != "sqlite":
        return  # no FTS5 tables: PostgreSQL's text search indexes the base tables themselves
    # a step starts from a checked baseline: only the indexes of the tables it wrote can have
    # moved (no step, or one whose writes nobody saw: every index)
    written = set(ctx.step.writes) if ctx.step is not None else set()
    indexes = {fts: base for fts, (base, _) in FTS.items() if not written or base in written}
    image = bytearray(ctx.db.serialize())  # integrity-check writes: it runs on a private copy
    image[18:20] = b"\x01\x01"  # as a rollback-journal file: an in-memory copy has no WAL
    memory = sqlite3.connect(":memory:")
    try:
        memory.deserialize(bytes(image))
        for fts, base in indexes.items():
            indexed = memory.execute(f"SELECT count(*) FROM {fts}_docsize").fetchone()[0]
            rows = memory.execute(f"SELECT count(*) FROM {base}").fetchone()[0]
            assert indexed == rows, f"{fts} indexes {indexed} rows, {base} has {rows}"
            try:
                memory.execute(f"INSERT INTO {fts}({fts}, rank) VALUES('integrity-check', 1)")
            except sqlite3.DatabaseError as exc:
                raise AssertionError(f"{fts} out of step with {base}: {exc}") from exc
    finally:
        memory.close()


@invariant("alert_count_matches_rows", needs_api=True, tables=["alerts"])
def alert_count_matches_rows(ctx: InvariantContext) -> None:
    """GET /api/alerts/count (as admin) equals the rows it counts."""
    assert ctx.api is not None
    status, body = ctx.api("/api/alerts/count")
    assert status == 200, f"/api/alerts/count answered {status}"
    total = ctx.scalar("SELECT count(*) FROM alerts")
    assert body["total"] == total, f"count says {body['total']}, table has {total}"
    for severity in SEVERITIES:
        n = ctx.scalar("SELECT count(*) FROM alerts WHERE severity = ?", severity)
        got = body["bySeverity"][severity]
        assert got == n, f"bySeverity.{severity}: {got} counted, {n} rows"
    for status_name in STATUSES:
        n = ctx.scalar("SELECT count(*) FROM alerts WHERE status = ?", status_name)
        got = body["byStatus"][status_name]
        assert got == n, f"byStatus.{status_name}: {got} counted, {n} rows"


@invariant("every_write_leaves_one_event", needs_step=True)
def every_write_leaves_one_event(ctx: InvariantContext) -> None:
    """A successful write adds exactly one events row; a failed request or a read adds none."""
    step = ctx.step
    assert step is not None
    added = len(step.rows("events", "inserted"))
    if step.is_write and step.succeeded and not step.path.startswith("/api/search"):
        assert added == 1, f"{step.method} {step.path} ({step.status}) wrote {added} events rows"
    else:
        assert added == 0, f"{step.method} {step.path} ({step.status}) wrote {added} events rows"


@invariant("upload_counts_match_rows", needs_step=True)
def upload_counts_match_rows(ctx: InvariantContext) -> None:
    """An upload's rows_imported equals the cases its request inserted."""
    step = ctx.step
    assert step is not None
    uploads = step.rows("uploads", "inserted")
    if not uploads:
        return
    imported = sum(int(u.get("rows_imported") or 0) for u in uploads)
    cases = len(step.rows("cases", "inserted"))
    assert imported == cases, f"upload says {imported} rows imported, {cases} cases inserted"
    for upload in uploads:
        if upload.get("status") == "failed":
            assert not upload.get("rows_imported"), f"failed upload {upload['id']} imported rows"


@invariant("every_share_notifies_its_recipient", needs_step=True)
def every_share_notifies_its_recipient(ctx: InvariantContext) -> None:
    """A share inserts one `share` notification for the user it names, about its case."""
    step = ctx.step
    assert step is not None
    shares = step.rows("shares", "inserted")
    notes = [n for n in step.rows("notifications", "inserted") if n.get("kind") == "share"]
    assert len(notes) == len(shares), f"{len(shares)} share(s), {len(notes)} share notification(s)"
    for share, note in zip(shares, notes, strict=True):
        email = ctx.scalar("SELECT email FROM users WHERE id = ?", note.get("user_id"))
        assert email == share.get("shared_with"), f"share {share.get('id')} notified {email}"
        assert note.get("case_id") == share.get("case_id"), f"share {share.get('id')}: case"


@invariant("trending_samples_are_the_topics_cases", tables=["trending_topics"])
def trending_samples_are_the_topics_cases(ctx: InvariantContext) -> None:
    """Each stored topic has 1-3 sample ids, no more than its case count, all distinct."""
    for topic, count, samples in ctx.all(
        "SELECT topic, case_count, sample_case_ids FROM trending_topics"
    ):
        ids = json.loads(samples)
        assert 1 <= len(ids) <= min(3, count), f"{topic}: {len(ids)} samples, {count} cases"
        assert len(set(ids)) == len(ids), f"{topic}: repeated sample ids {ids}"
