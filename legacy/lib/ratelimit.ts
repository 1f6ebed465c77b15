import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { ApiError } from "./http";

/**
 * Fixed-window rate limits, counted in the database (table rate_limits) so every process on
 * the same file shares them. A window is aligned to the clock: it starts at
 * floor(now / window) * window (epoch seconds), never at a process's start or a first request.
 * The limit and window come from the environment; a limit of 0 (or none) turns the limit off.
 */
export interface Limit {
  limit: number;
  windowS: number;
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  return Number.isInteger(value) && value >= 0 ? value : fallback;
}

/** LOGIN_RATE_LIMIT per LOGIN_RATE_LIMIT_WINDOW_S (default 60 s); 0 = off. */
export const loginLimit = (): Limit => ({
  limit: intEnv("LOGIN_RATE_LIMIT", 0),
  windowS: Math.max(1, intEnv("LOGIN_RATE_LIMIT_WINDOW_S", 60)),
});

/** WEBHOOK_RATE_LIMIT per WEBHOOK_RATE_LIMIT_WINDOW_S (default 60 s); 0 = off. */
export const webhookLimit = (): Limit => ({
  limit: intEnv("WEBHOOK_RATE_LIMIT", 0),
  windowS: Math.max(1, intEnv("WEBHOOK_RATE_LIMIT_WINDOW_S", 60)),
});

/** The login key: the account, as the login looks it up (case-insensitive email). */
export const loginKey = (email: string): string => `login:${email.toLowerCase()}`;

/** The webhook key: the signing key (a hash of it, never the secret itself). */
export const webhookKey = (secret: string): string =>
  `webhook:${createHash("sha256").update(secret).digest("hex").slice(0, 16)}`;

/** The start (epoch seconds) of the clock-aligned window holding nowMs. */
export const windowStart = (nowMs: number, windowS: number): number =>
  Math.floor(nowMs / 1000 / windowS) * windowS;

/**
 * Counts one request for `key`; past the limit, throws 429 rate_limited with Retry-After:
 * the whole seconds (rounded up, at least 1) until the window ends.
 */
export function hit(db: Db, key: string, { limit, windowS }: Limit, nowMs: number = Date.now()): void {
  if (limit <= 0) return;
  const start = windowStart(nowMs, windowS);
  const count = db.transaction((tx) => {
    tx.run(sql`DELETE FROM rate_limits WHERE "key" = ${key} AND window_start < ${start}`);
    const row = tx.get<{ count: number }>(
      sql`INSERT INTO rate_limits ("key", window_start, count) VALUES (${key}, ${start}, 1)
          ON CONFLICT ("key", window_start) DO UPDATE SET count = rate_limits.count + 1
          RETURNING count`,
    );
    return row.count;
  });
  if (count > limit) {
    const retryAfter = Math.max(1, Math.ceil(((start + windowS) * 1000 - nowMs) / 1000));
    throw new ApiError("rate_limited", "Too many requests, retry later", undefined, {
      "retry-after": String(retryAfter),
    });
  }
}
