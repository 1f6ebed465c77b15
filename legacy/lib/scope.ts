import { isAdmin } from "./auth";
import type { User } from "./schema";

/** A SQL fragment (and its parameters) limiting rows to the caller's unit and an optional unit filter. */
export function unitScope(user: User, businessUnit: string | undefined): { clause: string; params: string[] } {
  const parts: string[] = [];
  const params: string[] = [];
  if (!isAdmin(user)) {
    parts.push("business_unit = ?");
    params.push(user.businessUnit);
  }
  if (businessUnit !== undefined) {
    parts.push("business_unit = ?");
    params.push(businessUnit);
  }
  return { clause: parts.map((p) => ` AND ${p}`).join(""), params };
}
