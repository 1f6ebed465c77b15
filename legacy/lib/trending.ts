import { and, asc, gt, lte, sql } from "drizzle-orm";
import type { BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { cases, trendingTopics } from "./schema";

const DAY_MS = 24 * 60 * 60 * 1000;
export const PRIORITY_WEIGHT: Record<string, number> = { low: 1, medium: 2, high: 3, urgent: 5 };
export const MAX_TOPICS = 20;
export const SAMPLES = 3;

export interface ComputedTopic {
  topic: string;
  score: number;
  caseCount: number;
  sampleCaseIds: number[];
}

type AnyDb = BetterSQLite3Database<Record<string, unknown>>;

/**
 * Scores topics (lower-cased case categories) from the cases created in the `days` days up
 * to `asOf`: each case adds weight(priority) x (days - age), where weight is low 1, medium 2,
 * high 3, urgent 5 and age is the case's whole days before `asOf` (0 for the last day).
 * Topics by score desc then topic; the samples are each topic's three highest-scoring cases
 * (then newest, then highest id). Integer arithmetic only: the same on every stack.
 */
export function computeTopics(db: AnyDb, asOf: string, days: number): ComputedTopic[] {
  const end = Date.parse(asOf);
  const bounds = Array.from({ length: days + 1 }, (_, k) => new Date(end - k * DAY_MS).toISOString());
  const rows = db
    .select({ id: cases.id, topic: sql<string>`lower(${cases.category})`, priority: cases.priority, createdAt: cases.createdAt })
    .from(cases)
    .where(and(gt(cases.createdAt, bounds[days]), lte(cases.createdAt, bounds[0])))
    .orderBy(asc(cases.id))
    .all();
  const topics = new Map<string, { score: number; cases: { id: number; points: number; createdAt: string }[] }>();
  for (const row of rows) {
    let age = 0;
    while (age < days - 1 && row.createdAt <= bounds[age + 1]) age++;
    const points = (PRIORITY_WEIGHT[row.priority] ?? 1) * (days - age);
    const entry = topics.get(row.topic) ?? { score: 0, cases: [] };
    entry.score += points;
    entry.cases.push({ id: row.id, points, createdAt: row.createdAt });
    topics.set(row.topic, entry);
  }
  const byRank = (a: { points: number; createdAt: string; id: number }, b: typeof a) =>
    b.points - a.points || (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0) || b.id - a.id;
  return [...topics.entries()]
    .map(([topic, entry]) => ({
      topic,
      score: entry.score,
      caseCount: entry.cases.length,
      sampleCaseIds: [...entry.cases].sort(byRank).slice(0, SAMPLES).map((c) => c.id),
    }))
    .sort((a, b) => b.score - a.score || (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
    .slice(0, MAX_TOPICS);
}

/** Replaces the stored topics with a fresh computation stamped `asOf`. */
export function storeTopics(db: Pick<AnyDb, "delete" | "insert">, topics: ComputedTopic[], asOf: string): void {
  db.delete(trendingTopics).run();
  for (const t of topics) {
    db.insert(trendingTopics)
      .values({ topic: t.topic, score: t.score, caseCount: t.caseCount, sampleCaseIds: JSON.stringify(t.sampleCaseIds), computedAt: asOf })
      .run();
  }
}
