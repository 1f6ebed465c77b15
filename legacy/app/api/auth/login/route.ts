import { randomBytes } from "node:crypto";
import bcrypt from "bcryptjs";
import { sql } from "drizzle-orm";
import { NextResponse } from "next/server";
import { z } from "zod";
import { publicUser, SESSION_COOKIE, SESSION_DAYS } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { ApiError, parseWith, readJson, route } from "@/lib/http";
import { hit, loginKey, loginLimit } from "@/lib/ratelimit";
import { sessions, users } from "@/lib/schema";
import { daysFromNow } from "@/lib/time";

const LoginBody = z.object({
  email: z.string().min(1).max(320),
  password: z.string().min(1).max(200),
});

export const POST = route(async (request: Request) => {
  const body = parseWith(LoginBody, await readJson(request));
  const db = getDb();
  hit(db, loginKey(body.email), loginLimit()); // per account, every attempt counts
  const user = db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = lower(${body.email})`)
    .get();
  if (!user || !(await bcrypt.compare(body.password, user.passwordHash))) {
    throw new ApiError("invalid_credentials", "Invalid email or password");
  }
  const token = randomBytes(32).toString("hex");
  const expiresAt = daysFromNow(SESSION_DAYS);
  db.transaction((tx) => {
    const session = tx.insert(sessions).values({ token, userId: user.id, expiresAt }).returning().get();
    recordEvent(tx, "auth.login", "session", session.id, user.id, {}, null);
  });
  const response = NextResponse.json({ token, expiresAt, user: publicUser(user) });
  response.cookies.set(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
    maxAge: SESSION_DAYS * 24 * 60 * 60,
  });
  return response;
});
