import type Database from "better-sqlite3";
import { eventJson } from "./serialize";
import type { EventRow, User } from "./schema";

interface RawEvent {
  id: number;
  kind: string;
  subject_type: string;
  subject_id: number | null;
  actor_id: number | null;
  payload: string;
  business_unit: string | null;
  created_at: string;
}

const toRow = (raw: RawEvent): EventRow => ({
  id: raw.id,
  kind: raw.kind,
  subjectType: raw.subject_type,
  subjectId: raw.subject_id,
  actorId: raw.actor_id,
  payload: raw.payload,
  businessUnit: raw.business_unit,
  createdAt: raw.created_at,
});

/**
 * Whether `user` may receive `event`, from the event row alone (so every subscriber of
 * every stack decides alike, whenever it polls): admins get everything; sessions and
 * notifications go to their own user only; an event of no unit (trending, a global feed
 * item, a cleanup) to everyone; the rest to the unit the subject belonged to when written.
 */
export function visibleTo(user: User, event: EventRow): boolean {
  if (user.role === "admin") return true;
  if (event.kind.startsWith("auth.") || event.kind.startsWith("notification.")) return event.actorId === user.id;
  return event.businessUnit === null || event.businessUnit === user.businessUnit;
}

export const latestEventId = (sqlite: Database.Database): number =>
  (sqlite.prepare("SELECT coalesce(max(id), 0) AS id FROM events").get() as { id: number }).id;

/** The messages for `user` from the events after `after`, in id order, and the new cursor. */
export function pendingMessages(
  sqlite: Database.Database,
  user: User,
  after: number,
): { messages: string[]; after: number } {
  const rows = sqlite.prepare("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT 500").all(after) as RawEvent[];
  const messages: string[] = [];
  for (const raw of rows) {
    const event = toRow(raw);
    if (visibleTo(user, event)) messages.push(JSON.stringify({ type: "event", event: eventJson(event) }));
  }
  return { messages, after: rows.length ? rows[rows.length - 1].id : after };
}
