import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { cases } from "./schema";

export const EPOCH = "1970-01-01T00:00:00.000Z";
const DAY_MS = 24 * 60 * 60 * 1000;

/** The next UTC midnight at or after `iso` (a midnight stays itself). */
export const endOfDay = (iso: string): string => new Date(Math.ceil(Date.parse(iso) / DAY_MS) * DAY_MS).toISOString();

/**
 * The "now" of an analytics request: the `asOf` the caller gave, else the end of the UTC day
 * of the newest case (taken from the data, and at day granularity, so two services over one
 * database answer alike even right after each stamped a new case with its own clock).
 */
export function resolveAsOf(db: Db, asOf: string | undefined): string {
  if (asOf !== undefined) return new Date(asOf).toISOString();
  const row = db.select({ latest: sql<string | null>`max(${cases.createdAt})` }).from(cases).get();
  return row?.latest ? endOfDay(row.latest) : EPOCH;
}
