import { eq } from "drizzle-orm";
import { NextResponse } from "next/server";
import { authenticate, SESSION_COOKIE } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { route } from "@/lib/http";
import { sessions } from "@/lib/schema";

export const POST = route(async (request: Request) => {
  const { user, token } = authenticate(request);
  getDb().transaction((tx) => {
    const session = tx.delete(sessions).where(eq(sessions.token, token)).returning().get();
    recordEvent(tx, "auth.logout", "session", session?.id ?? null, user.id, {}, null);
  });
  const response = NextResponse.json({ ok: true });
  response.cookies.set(SESSION_COOKIE, "", { path: "/", maxAge: 0 });
  return response;
});
