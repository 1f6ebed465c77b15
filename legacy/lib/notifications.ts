import type { Db } from "./db";
import { notifications, type NotificationRow } from "./schema";

/** A notification in the recipient's inbox (created by an assignment or a share). */
export function notify(
  db: Pick<Db, "insert">,
  userId: number,
  kind: NotificationRow["kind"],
  caseId: number,
  actorId: number,
  message: string,
): void {
  db.insert(notifications).values({ userId, kind, caseId, actorId, message }).run();
}
