import type { Db } from "./db";
import { events } from "./schema";

export const SUBJECT_TYPES = [
  "alert",
  "case",
  "feed_item",
  "upload",
  "session",
  "share",
  "notification",
  "chat_message",
  "trending",
  "job",
] as const;

export type SubjectType = (typeof SUBJECT_TYPES)[number];

/**
 * The audit row every successful write leaves behind. `businessUnit` is the unit the
 * subject belonged to when it was written (null: no unit, e.g. a global feed item, a login,
 * a trending computation); the realtime channel scopes delivery by it.
 */
export function recordEvent(
  db: Pick<Db, "insert">,
  kind: string,
  subjectType: SubjectType,
  subjectId: number | null,
  actorId: number | null,
  payload: unknown,
  businessUnit: string | null,
): void {
  db.insert(events)
    .values({ kind, subjectType, subjectId, actorId, payload: JSON.stringify(payload), businessUnit })
    .run();
}
