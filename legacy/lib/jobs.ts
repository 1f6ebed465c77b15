import type Database from "better-sqlite3";
import { eq } from "drizzle-orm";
import { getDb, getSqlite } from "./db";
import { recordEvent } from "./events";
import { cases, jobs, type JobRow } from "./schema";

/** A claimed job whose worker died is taken again once its claim is this old (JOBS_LEASE_MS:
 * a test that kills a worker shortens it). */
export const LEASE_MS = Number(process.env.JOBS_LEASE_MS ?? 60_000);

const parseJson = (text: string | null): unknown => (text ? JSON.parse(text) : null);

export function jobJson(row: JobRow) {
  return {
    id: row.id,
    kind: row.kind,
    caseId: row.caseId,
    status: row.status,
    result: parseJson(row.result),
    error: row.error,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

type Count = { n: number; latest: string | null };

/**
 * The summary of a case from its own alerts and chat messages only: counts and the latest
 * times, read in one transaction so the figures agree with each other.
 */
export function caseSummary(sqlite: Database.Database, caseId: number): Record<string, unknown> | null {
  const found = sqlite.prepare("SELECT id, status, priority FROM cases WHERE id = ?").get(caseId) as
    | { id: number; status: string; priority: string }
    | undefined;
  if (!found) return null;
  const alerts = sqlite
    .prepare(
      `SELECT count(*) AS n, max(created_at) AS latest,
              coalesce(sum(status = 'active'), 0) AS active,
              coalesce(sum(status = 'acknowledged'), 0) AS acknowledged,
              coalesce(sum(status = 'resolved'), 0) AS resolved,
              coalesce(sum(severity = 'critical'), 0) AS critical
         FROM alerts WHERE case_id = ?`,
    )
    .get(caseId) as Count & { active: number; acknowledged: number; resolved: number; critical: number };
  const chat = sqlite
    .prepare(
      `SELECT count(*) AS n, max(created_at) AS latest, min(created_at) AS first,
              count(DISTINCT user_id) AS participants
         FROM chat_messages WHERE case_id = ?`,
    )
    .get(caseId) as Count & { first: string | null; participants: number };
  return {
    caseId: found.id,
    status: found.status,
    priority: found.priority,
    alerts: {
      total: alerts.n,
      active: alerts.active,
      acknowledged: alerts.acknowledged,
      resolved: alerts.resolved,
      critical: alerts.critical,
      latestAt: alerts.latest,
    },
    chat: {
      messages: chat.n,
      participants: chat.participants,
      firstAt: chat.first,
      latestAt: chat.latest,
    },
  };
}

/**
 * Claims the oldest queued job (or one whose claim outlived LEASE_MS: its worker died) with
 * one conditional UPDATE, so two workers on one database never take the same job.
 */
export function claimJob(sqlite: Database.Database, now: Date = new Date()): JobRow | null {
  const stale = new Date(now.getTime() - LEASE_MS).toISOString();
  const claimable = "(status = 'queued' OR (status = 'running' AND updated_at < @stale))";
  // an idle poll only reads: the write lock is taken only when there is a job to claim
  if (!sqlite.prepare(`SELECT 1 FROM jobs WHERE ${claimable} LIMIT 1`).get({ stale })) return null;
  const raw = sqlite
    .prepare(
      `UPDATE jobs SET status = 'running', updated_at = @now
        WHERE id = (SELECT id FROM jobs WHERE ${claimable} ORDER BY id LIMIT 1) AND ${claimable}
        RETURNING id`,
    )
    .get({ now: now.toISOString(), stale }) as { id: number } | undefined;
  if (!raw) return null;
  return getDb().select().from(jobs).where(eq(jobs.id, raw.id)).get() ?? null;
}

/** Runs one claimed job to its end: its result (or error), then its event. */
export function finishJob(job: JobRow): void {
  const sqlite = getSqlite();
  getDb().transaction((tx) => {
    let result: string | null = null;
    let error: string | null = null;
    const summary = caseSummary(sqlite, job.caseId);
    if (summary === null) error = "Case not found";
    else result = JSON.stringify(summary);
    const status = error === null ? "done" : "failed";
    const finished = tx
      .update(jobs)
      .set({ status, result, error, updatedAt: new Date().toISOString() })
      .where(eq(jobs.id, job.id))
      .returning()
      .get();
    const unit = tx.select({ unit: cases.businessUnit }).from(cases).where(eq(cases.id, job.caseId)).get();
    recordEvent(tx, `job.${status}`, "job", job.id, job.requestedBy, jobJson(finished), unit?.unit ?? null);
  });
}

/** Every claimable job, one after another (the worker loop's tick). */
export function workQueued(): number {
  const sqlite = getSqlite();
  let done = 0;
  for (let job = claimJob(sqlite); job !== null; job = claimJob(sqlite)) {
    finishJob(job);
    done += 1;
  }
  return done;
}

/**
 * The worker loop of the server process: polls the jobs table (a job queued before a
 * restart is found on the first tick). JOBS_WORKER=0 leaves jobs queued (tests of a restart).
 */
export function startWorker(pollMs = Number(process.env.JOBS_POLL_MS ?? 100)): NodeJS.Timeout | null {
  if (process.env.JOBS_WORKER === "0") return null;
  let busy = false;
  return setInterval(() => {
    if (busy) return;
    busy = true;
    try {
      workQueued();
    } catch (error) {
      console.error("job worker:", error);
    } finally {
      busy = false;
    }
  }, pollMs);
}
