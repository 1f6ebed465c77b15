import type { Db } from "./db";
import { events } from "./schema";

export type SubjectType = "alert" | "case" | "feed_item" | "upload" | "session";

/** The audit row every successful write leaves behind. */
export function recordEvent(
  db: Pick<Db, "insert">,
  kind: string,
  subjectType: SubjectType,
  subjectId: number | null,
  actorId: number | null,
  payload: unknown,
): void {
  db.insert(events)
    .values({ kind, subjectType, subjectId, actorId, payload: JSON.stringify(payload) })
    .run();
}
