import { and, eq, gt } from "drizzle-orm";
import { getDb } from "./db";
import { ApiError, forbidden } from "./http";
import { sessions, users, type User } from "./schema";
import { nowIso } from "./time";

export type Role = User["role"];

export const SESSION_COOKIE = "session";
export const SESSION_DAYS = 7;

export function tokenFrom(request: Request): string | null {
  const header = request.headers.get("authorization");
  if (header) {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match) return match[1].trim();
  }
  const cookie = request.headers.get("cookie");
  if (cookie) {
    for (const part of cookie.split(";")) {
      const [name, ...rest] = part.trim().split("=");
      if (name === SESSION_COOKIE && rest.length) {
        const raw = rest.join("=");
        try {
          return decodeURIComponent(raw);
        } catch {
          return raw;
        }
      }
    }
  }
  return null;
}

export interface Caller {
  user: User;
  token: string;
}

/** The caller's session and user, or 401. */
export function authenticate(request: Request): Caller {
  const token = tokenFrom(request);
  if (!token) throw new ApiError("unauthorized", "Authentication required");
  const row = getDb()
    .select({ user: users })
    .from(sessions)
    .innerJoin(users, eq(sessions.userId, users.id))
    .where(and(eq(sessions.token, token), gt(sessions.expiresAt, nowIso())))
    .get();
  if (!row) throw new ApiError("unauthorized", "Authentication required");
  return { user: row.user, token };
}

const RANK: Record<Role, number> = { viewer: 0, agent: 1, admin: 2 };

/** 401 without a session, 403 when the caller's role is below `minimum`. */
export function requireRole(request: Request, minimum: Role): Caller {
  const caller = authenticate(request);
  if (RANK[caller.user.role] < RANK[minimum]) throw forbidden();
  return caller;
}

export const isAdmin = (user: User) => user.role === "admin";

/** Business-unit scope: admins see everything, others their own unit. */
export const canSee = (user: User, businessUnit: string | null) =>
  isAdmin(user) || businessUnit === user.businessUnit;

export function publicUser(user: User) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    businessUnit: user.businessUnit,
    createdAt: user.createdAt,
  };
}
