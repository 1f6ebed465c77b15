import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { cases } from "./schema";

export const EPOCH = "1970-01-01T00:00:00.000Z";

/**
 * The "now" of an analytics request: the `asOf` the caller gave, else the newest case's
 * `createdAt` (taken from the data, so two services over one database answer alike).
 */
export function resolveAsOf(db: Db, asOf: string | undefined): string {
  if (asOf !== undefined) return new Date(asOf).toISOString();
  const row = db.select({ latest: sql<string | null>`max(${cases.createdAt})` }).from(cases).get();
  return row?.latest ?? EPOCH;
}
