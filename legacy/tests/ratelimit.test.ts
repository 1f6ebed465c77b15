/** Rate limits (issue 27): login per account, the webhook per signing key, clock-aligned windows. */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { ApiError } from "../lib/http";
import { hit, windowStart } from "../lib/ratelimit";
import { startServer, USERS, type Server } from "./server";

const SECRET = "legacy-test-ratelimit-secret";
process.env.WEBHOOK_SECRET = SECRET; // the server inherits these
process.env.LOGIN_RATE_LIMIT = "3";
process.env.LOGIN_RATE_LIMIT_WINDOW_S = "3600";
process.env.WEBHOOK_RATE_LIMIT = "2";
process.env.WEBHOOK_RATE_LIMIT_WINDOW_S = "3600";

let server: Server;

before(async () => {
  server = await startServer();
});
after(async () => server?.stop());

function signed(body: string): Record<string, string> {
  const stamp = Math.floor(Date.now() / 1000);
  const signature = createHmac("sha256", SECRET).update(`${stamp}.${body}`).digest("hex");
  return {
    "content-type": "application/json",
    "x-signature": `sha256=${signature}`,
    "x-signature-timestamp": String(stamp),
  };
}

/** The 429: the API's error body and a Retry-After within the hour-long window. */
function assertLimited(res: { status: number; body: unknown; headers: Headers }): void {
  assert.equal(res.status, 429);
  assert.deepEqual(res.body, { error: "rate_limited", message: "Too many requests, retry later" });
  const retry = Number(res.headers.get("retry-after"));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 3600, `Retry-After ${retry}`);
  // seconds until the clock-aligned window ends, rounded up
  const expected = Math.ceil(((windowStart(Date.now(), 3600) + 3600) * 1000 - Date.now()) / 1000);
  assert.ok(Math.abs(retry - expected) <= 2, `Retry-After ${retry}, window ends in ${expected}`);
}

describe("login rate limit", () => {
  test("three attempts per account, wrong passwords included; the fourth is 429; another account is not", async () => {
    const [email, password] = USERS.viewerRetail;
    const wrong = await server.call("POST", "/api/auth/login", { json: { email, password: "wrong" } });
    assert.equal(wrong.status, 401);
    await server.login(email.toUpperCase(), password); // one account, however it is spelled
    await server.login(email, password);
    assertLimited(await server.call("POST", "/api/auth/login", { json: { email, password } }));
    await server.login(...USERS.admin);
  });
});

describe("webhook rate limit", () => {
  test("two signed deliveries per signing key; the third is 429", async () => {
    const body = JSON.stringify({ title: "Disk", message: "full", severity: "critical", businessUnit: "retail" });
    for (let i = 0; i < 2; i++) {
      const res = await server.call("POST", "/api/webhooks/alerts", { body, headers: signed(body) });
      assert.equal(res.status, 201);
    }
    assertLimited(await server.call("POST", "/api/webhooks/alerts", { body, headers: signed(body) }));
  });
});

describe("clock-aligned windows", () => {
  test("a window starts at floor(now / window) * window, not at the first request", () => {
    const sqlite = new Database(server.dbPath);
    const db = drizzle(sqlite);
    const limit = { limit: 2, windowS: 60 };
    const at = (s: number) => () => hit(db as never, "test:aligned", limit, s * 1000);
    assert.equal(windowStart(125_000, 60), 120);
    // the first request 10 s before a boundary: the window it opens ends at the boundary
    at(1_799_999_990)();
    at(1_799_999_995)();
    assert.throws(at(1_799_999_999.5), (error: unknown) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 429);
      assert.deepEqual(error.headers, { "retry-after": "1" }); // 0.5 s left, rounded up
      return true;
    });
    at(1_800_000_000)(); // the next window: counted afresh
    const rows = sqlite.prepare("SELECT window_start AS s, count AS n FROM rate_limits WHERE key = 'test:aligned'").all();
    assert.deepEqual(rows, [{ s: 1_800_000_000, n: 1 }]); // the old window's row is gone
    sqlite.close();
  });

  test("a limit of 0 is off and counts nothing", () => {
    const sqlite = new Database(server.dbPath);
    for (let i = 0; i < 5; i++) hit(drizzle(sqlite) as never, "test:off", { limit: 0, windowS: 60 });
    assert.equal((sqlite.prepare("SELECT count(*) AS n FROM rate_limits WHERE key = 'test:off'").get() as { n: number }).n, 0);
    sqlite.close();
  });
});
