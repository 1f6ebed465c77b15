import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { startServer, USERS, type Server } from "./server";

let server: Server;
const tokens: Record<keyof typeof USERS, string> = {} as never;

before(async () => {
  server = await startServer();
  for (const [key, [email, password]] of Object.entries(USERS)) {
    tokens[key as keyof typeof USERS] = await server.login(email, password);
  }
});
after(async () => server?.stop());

const db = () => new Database(server.dbPath, { readonly: true });
const eventsCount = () => {
  const conn = db();
  const n = (conn.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  conn.close();
  return n;
};
const caseInput = { title: "Printer on fire", channel: "phone", category: "technical", customerName: "Ada" };

describe("health and auth", () => {
  test("health answers without a session", async () => {
    const res = await server.call("GET", "/api/health");
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "ok");
    assert.match(res.body.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test("login sets the session cookie and is case-insensitive on email", async () => {
    const res = await server.call("POST", "/api/auth/login", { json: { email: "ADMIN@example.test", password: "parity-admin" } });
    assert.equal(res.status, 200);
    assert.match(res.body.token, /^[0-9a-f]{64}$/);
    assert.match(res.headers.get("set-cookie") ?? "", /^session=[0-9a-f]{64}; Path=\/; .*HttpOnly; SameSite=lax/);
    assert.equal(res.body.user.role, "admin");
    assert.equal(res.body.user.passwordHash, undefined);
  });

  test("wrong password and unknown user are 401 invalid_credentials", async () => {
    for (const json of [{ email: "admin@example.test", password: "nope" }, { email: "x@y", password: "z" }]) {
      const res = await server.call("POST", "/api/auth/login", { json });
      assert.equal(res.status, 401);
      assert.deepEqual(res.body, { error: "invalid_credentials", message: "Invalid email or password" });
    }
  });

  test("me needs a session; the cookie works as well as the bearer", async () => {
    assert.equal((await server.call("GET", "/api/auth/me")).status, 401);
    assert.equal((await server.call("GET", "/api/auth/me", { token: "f".repeat(64) })).status, 401);
    const cookie = await server.call("GET", "/api/auth/me", { headers: { cookie: `session=${tokens.agentSmb}` } });
    assert.equal(cookie.status, 200);
    assert.equal(cookie.body.user.businessUnit, "smb");
  });

  test("logout ends the session, and an expired session is refused", async () => {
    const token = await server.login(...USERS.viewerRetail);
    const out = await server.call("POST", "/api/auth/logout", { token });
    assert.equal(out.status, 200);
    assert.deepEqual(out.body, { ok: true });
    assert.equal((await server.call("GET", "/api/auth/me", { token })).status, 401);
    const other = await server.login(...USERS.viewerRetail);
    const conn = new Database(server.dbPath);
    conn.prepare("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z' WHERE token = ?").run(other);
    conn.close();
    assert.equal((await server.call("GET", "/api/auth/me", { token: other })).status, 401);
  });

  test("a malformed session cookie is a 401, not a 500", async () => {
    const res = await server.call("GET", "/api/cases", { headers: { cookie: "session=%E0" } });
    assert.equal(res.status, 401);
  });
});

describe("alerts", () => {
  test("list is newest first with pagination and filters", async () => {
    const res = await server.call("GET", "/api/alerts?limit=5&offset=2&severity=critical", { token: tokens.admin });
    assert.equal(res.status, 200);
    assert.equal(res.body.limit, 5);
    assert.equal(res.body.offset, 2);
    assert.ok(res.body.data.every((a: { severity: string }) => a.severity === "critical"));
    const dates = res.body.data.map((a: { createdAt: string }) => a.createdAt);
    assert.deepEqual([...dates].sort().reverse(), dates);
  });

  test("non-admins see only their unit", async () => {
    const res = await server.call("GET", "/api/alerts?limit=100", { token: tokens.agentSmb });
    assert.ok(res.body.data.length > 0);
    assert.ok(res.body.data.every((a: { businessUnit: string }) => a.businessUnit === "smb"));
    const other = await server.call("GET", "/api/alerts?businessUnit=retail", { token: tokens.agentSmb });
    assert.equal(other.body.total, 0);
  });

  test("count equals the rows it counts", async () => {
    const res = await server.call("GET", "/api/alerts/count", { token: tokens.admin });
    const conn = db();
    const total = (conn.prepare("SELECT count(*) AS n FROM alerts").get() as { n: number }).n;
    conn.close();
    assert.equal(res.body.total, total);
    assert.equal(res.body.bySeverity.info + res.body.bySeverity.warning + res.body.bySeverity.critical, total);
  });

  test("create, acknowledge, resolve, with events and refused transitions", async () => {
    const before = eventsCount();
    const created = await server.call("POST", "/api/alerts", {
      token: tokens.admin,
      json: { title: "Disk full", message: "95%", severity: "warning", businessUnit: "smb" },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.status, "active");
    assert.equal("metadata" in created.body, false, "metadata is omitted when null");
    const id = created.body.id;
    assert.equal((await server.call("POST", `/api/alerts/${id}/acknowledge`, { token: tokens.viewerRetail })).status, 403);
    const ack = await server.call("POST", `/api/alerts/${id}/acknowledge`, { token: tokens.agentSmb });
    assert.equal(ack.status, 200);
    assert.equal(ack.body.status, "acknowledged");
    assert.ok(ack.body.acknowledgedAt);
    assert.equal((await server.call("POST", `/api/alerts/${id}/acknowledge`, { token: tokens.agentSmb })).body.message, "Alert is not active");
    assert.equal((await server.call("POST", `/api/alerts/${id}/resolve`, { token: tokens.agentSmb })).status, 403);
    assert.equal((await server.call("POST", `/api/alerts/${id}/resolve`, { token: tokens.admin })).status, 200);
    assert.equal((await server.call("POST", `/api/alerts/${id}/resolve`, { token: tokens.admin })).status, 409);
    assert.equal(eventsCount(), before + 3);
  });

  test("put replaces, delete removes, another unit's alert is 404", async () => {
    const created = await server.call("POST", "/api/alerts", {
      token: tokens.admin,
      json: { title: "t", message: "m", severity: "info", businessUnit: "retail", metadata: { a: 1 } },
    });
    const id = created.body.id;
    assert.deepEqual(created.body.metadata, { a: 1 });
    const put = await server.call("PUT", `/api/alerts/${id}`, { token: tokens.admin, json: { title: "t2", message: "m2", severity: "critical" } });
    assert.equal(put.status, 200);
    assert.equal(put.body.title, "t2");
    assert.equal("metadata" in put.body, false);
    assert.equal((await server.call("GET", `/api/alerts/${id}`, { token: tokens.agentSmb })).status, 404);
    assert.equal((await server.call("DELETE", `/api/alerts/${id}`, { token: tokens.agentRetail })).status, 403);
    assert.equal((await server.call("DELETE", `/api/alerts/${id}`, { token: tokens.admin })).status, 204);
    assert.equal((await server.call("GET", `/api/alerts/${id}`, { token: tokens.admin })).status, 404);
  });

  test("an unknown caseId is a validation error", async () => {
    const res = await server.call("POST", "/api/alerts", { token: tokens.admin, json: { title: "t", message: "m", severity: "info", caseId: 99999 } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.issues, [{ path: "caseId", code: "custom", message: "Case not found" }]);
  });
});

describe("cases", () => {
  test("list sorts by priority rank with id tie-break, filters category case-insensitively", async () => {
    const res = await server.call("GET", "/api/cases?sort=-priority&pageSize=100", { token: tokens.admin });
    const rank = { low: 0, medium: 1, high: 2, urgent: 3 } as Record<string, number>;
    const keys = res.body.data.map((c: { priority: string; id: number }) => [rank[c.priority], c.id]);
    for (let i = 1; i < keys.length; i++) {
      assert.ok(keys[i - 1][0] > keys[i][0] || (keys[i - 1][0] === keys[i][0] && keys[i - 1][1] > keys[i][1]));
    }
    const lower = await server.call("GET", "/api/cases?category=billing", { token: tokens.admin });
    const upper = await server.call("GET", "/api/cases?category=BILLING", { token: tokens.admin });
    assert.ok(lower.body.pagination.total > 0);
    assert.equal(upper.body.pagination.total, lower.body.pagination.total);
    assert.equal(res.body.pagination.totalPages, Math.ceil(res.body.pagination.total / 100));
  });

  test("create applies defaults and records an event; viewers cannot", async () => {
    const before = eventsCount();
    const res = await server.call("POST", "/api/cases", { token: tokens.agentSmb, json: caseInput });
    assert.equal(res.status, 201);
    assert.equal(res.body.status, "open");
    assert.equal(res.body.priority, "medium");
    assert.equal(res.body.businessUnit, "smb");
    assert.equal(eventsCount(), before + 1);
    const viewer = await server.call("POST", "/api/cases", { token: tokens.viewerRetail, json: caseInput });
    assert.equal(viewer.status, 403);
    assert.equal(eventsCount(), before + 1);
  });

  test("an agent cannot create in another unit nor assign a viewer", async () => {
    assert.equal((await server.call("POST", "/api/cases", { token: tokens.agentSmb, json: { ...caseInput, businessUnit: "retail" } })).status, 403);
    const res = await server.call("POST", "/api/cases", { token: tokens.admin, json: { ...caseInput, assigneeId: 5 } });
    assert.equal(res.status, 400);
    assert.equal(res.body.issues[0].message, "Invalid assignee");
  });

  test("validation errors list zod issues in order", async () => {
    const res = await server.call("POST", "/api/cases", { token: tokens.admin, json: { title: 5, channel: "fax", category: "" } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, "validation_error");
    assert.deepEqual(res.body.issues.map((i: { path: string }) => i.path), ["title", "channel", "category", "customerName"]);
    const bad = await server.call("POST", "/api/cases", { token: tokens.admin, body: "{oops", headers: { "content-type": "application/json" } });
    assert.deepEqual(bad.body, { error: "invalid_json", message: "Request body must be valid JSON" });
    const arr = await server.call("POST", "/api/cases", { token: tokens.admin, json: [1] });
    assert.equal(arr.body.issues[0].message, "Invalid input: expected object, received array");
  });

  test("patch bumps updated_at, refuses {} and closed cases; assign moves open to in_progress", async () => {
    const created = await server.call("POST", "/api/cases", { token: tokens.agentRetail, json: caseInput });
    const id = created.body.id;
    assert.equal((await server.call("PATCH", `/api/cases/${id}`, { token: tokens.agentRetail, json: {} })).status, 400);
    await new Promise((r) => setTimeout(r, 5));
    const patched = await server.call("PATCH", `/api/cases/${id}`, { token: tokens.agentRetail, json: { title: "New" } });
    assert.equal(patched.status, 200);
    assert.ok(patched.body.updatedAt > created.body.updatedAt);
    const assigned = await server.call("POST", `/api/cases/${id}/assign`, { token: tokens.agentRetail, json: { assigneeId: 2 } });
    assert.equal(assigned.body.status, "in_progress");
    await server.call("PATCH", `/api/cases/${id}`, { token: tokens.agentRetail, json: { status: "closed" } });
    const refused = await server.call("PATCH", `/api/cases/${id}`, { token: tokens.agentRetail, json: { title: "x" } });
    assert.equal(refused.status, 409);
    assert.equal((await server.call("POST", `/api/cases/${id}/assign`, { token: tokens.agentRetail, json: { assigneeId: null } })).status, 409);
    assert.equal((await server.call("PATCH", `/api/cases/${id}`, { token: tokens.agentRetail, json: { status: "open" } })).status, 200);
  });

  test("an undocumented priority filter narrows the list; an unknown priority is a 400", async () => {
    const all = await server.call("GET", "/api/cases?pageSize=100", { token: tokens.admin });
    const urgent = await server.call("GET", "/api/cases?priority=urgent&pageSize=100", { token: tokens.admin });
    assert.equal(urgent.status, 200);
    const expected = all.body.data.filter((c: { priority: string }) => c.priority === "urgent").length;
    assert.ok(expected > 0);
    assert.equal(urgent.body.pagination.total, all.body.data.filter((c: { priority: string }) => c.priority === "urgent").length);
    assert.ok(urgent.body.data.every((c: { priority: string }) => c.priority === "urgent"));
    const bad = await server.call("GET", "/api/cases?priority=asap&status=nope", { token: tokens.admin });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, "validation_error");
    assert.deepEqual(bad.body.issues.map((i: { path: string }) => i.path), ["status", "priority"]);
  });

  test("Prefer: return=minimal answers 204 with no body on create and update, and writes the same rows", async () => {
    const before = eventsCount();
    const prefer = { prefer: 'handling=lenient, return="minimal"' };
    const created = await server.call("POST", "/api/cases", { token: tokens.agentRetail, json: { ...caseInput, title: "Minimal" }, headers: prefer });
    assert.equal(created.status, 204);
    assert.equal(created.body, null);
    assert.equal(created.headers.get("preference-applied"), "return=minimal");
    assert.equal(eventsCount(), before + 1);
    const conn = db();
    const row = conn.prepare("SELECT id, title, status FROM cases WHERE title = 'Minimal'").get() as { id: number; title: string; status: string };
    conn.close();
    assert.equal(row.status, "open");
    const patched = await server.call("PATCH", `/api/cases/${row.id}`, { token: tokens.agentRetail, json: { title: "Minimal too" }, headers: { prefer: "return=minimal" } });
    assert.equal(patched.status, 204);
    assert.equal(patched.headers.get("preference-applied"), "return=minimal");
    assert.equal((await server.call("GET", `/api/cases/${row.id}`, { token: tokens.agentRetail })).body.title, "Minimal too");
    const full = await server.call("PATCH", `/api/cases/${row.id}`, { token: tokens.agentRetail, json: { title: "Full" }, headers: { prefer: "return=representation" } });
    assert.equal(full.status, 200);
    assert.equal(full.body.title, "Full");
    assert.equal(full.headers.get("preference-applied"), null);
    const invalid = await server.call("PATCH", `/api/cases/${row.id}`, { token: tokens.agentRetail, json: {}, headers: { prefer: "return=minimal" } });
    assert.equal(invalid.status, 400);
  });

  test("path ids coerce like Number(): 1.0 is 1, abc is a 400", async () => {
    assert.equal((await server.call("GET", "/api/cases/1.0", { token: tokens.admin })).body.id, 1);
    const bad = await server.call("GET", "/api/cases/abc", { token: tokens.admin });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.issues[0].message, "Invalid input: expected number, received NaN");
    assert.equal((await server.call("DELETE", "/api/cases/1", { token: tokens.agentRetail })).status, 403);
  });
});

describe("feed", () => {
  test("hides expired items, pages by cursor without overlap", async () => {
    const first = await server.call("GET", "/api/feed?limit=5", { token: tokens.admin });
    assert.equal(first.status, 200);
    const now = new Date().toISOString();
    assert.ok(first.body.data.every((f: { expiresAt: string | null }) => f.expiresAt === null || f.expiresAt > now));
    assert.ok(first.body.nextCursor);
    const second = await server.call("GET", `/api/feed?limit=5&cursor=${first.body.nextCursor}`, { token: tokens.admin });
    const ids = new Set(first.body.data.map((f: { id: number }) => f.id));
    assert.ok(second.body.data.every((f: { id: number }) => !ids.has(f.id)));
    assert.equal((await server.call("GET", "/api/feed?cursor=zzz", { token: tokens.admin })).status, 400);
  });

  test("global items are admin-only; cleanup deletes expired ones", async () => {
    assert.equal((await server.call("POST", "/api/feed", { token: tokens.agentSmb, json: { kind: "trend", title: "t", businessUnit: null } })).status, 403);
    const made = await server.call("POST", "/api/feed", { token: tokens.admin, json: { kind: "alert", title: "t", expiresAt: "2030-01-01T00:00:00Z" } });
    assert.equal(made.body.expiresAt, "2030-01-01T00:00:00.000Z");
    assert.equal((await server.call("POST", "/api/feed/cleanup", { token: tokens.agentSmb })).status, 403);
    const cleanup = await server.call("POST", "/api/feed/cleanup", { token: tokens.admin });
    assert.ok(cleanup.body.deleted > 0);
    assert.equal((await server.call("POST", "/api/feed/cleanup", { token: tokens.admin })).body.deleted, 0);
  });
});

describe("search", () => {
  test("ranks by bm25, records analytics, never 500s on FTS syntax", async () => {
    const res = await server.call("GET", "/api/search?q=refund", { token: tokens.admin });
    assert.equal(res.status, 200);
    const scores = res.body.results.map((r: { score: number }) => r.score);
    assert.deepEqual([...scores].sort((a, b) => a - b), scores);
    for (const q of ['"unbalanced', "AND OR NOT", "NEAR(a b", "*", "'; DROP TABLE cases; --", "a:b"]) {
      const r = await server.call("GET", `/api/search?q=${encodeURIComponent(q)}`, { token: tokens.admin });
      assert.equal(r.status, 200, q);
    }
    const analytics = await server.call("GET", "/api/search/analytics", { token: tokens.admin });
    assert.ok(analytics.body.totalSearches >= 7);
    assert.equal((await server.call("GET", "/api/search/analytics", { token: tokens.agentSmb })).status, 403);
    const conn = db();
    const tables = conn.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'cases'").get() as { n: number };
    conn.close();
    assert.equal(tables.n, 1);
  });
});

describe("upload", () => {
  const form = (name: string, content: string | Buffer, type = "text/csv") => {
    const data = new FormData();
    data.append("file", new Blob([typeof content === "string" ? content : new Uint8Array(content)], { type }), name);
    return data;
  };

  test("keeps good rows, rejects bad ones, handles BOM and CRLF", async () => {
    const csv = "\uFEFFtitle,channel,category,customerName\r\nGood,email,billing,Ann\r\nBad,fax,billing,Bob\r\n\"Quoted, comma\",chat,billing,Cy\r\n";
    const res = await server.call("POST", "/api/upload", { token: tokens.agentSmb, body: form("cases.csv", csv) });
    assert.equal(res.status, 201);
    assert.equal(res.body.upload.status, "processed");
    assert.equal(res.body.upload.rowsImported, 2);
    assert.equal(res.body.upload.rowsRejected, 1);
    assert.deepEqual(res.body.errors.map((e: { row: number; field: string }) => [e.row, e.field]), [[3, "channel"]]);
    const fetched = await server.call("GET", `/api/uploads/${res.body.upload.id}`, { token: tokens.agentSmb });
    assert.equal(fetched.body.sha256, res.body.upload.sha256);
  });

  test("413 over 5 MB, 415 for non-CSV and non-multipart, failed upload for a bad header", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 1, "a");
    assert.equal((await server.call("POST", "/api/upload", { token: tokens.admin, body: form("big.csv", big) })).status, 413);
    assert.equal((await server.call("POST", "/api/upload", { token: tokens.admin, body: form("x.txt", "a") })).status, 415);
    assert.equal((await server.call("POST", "/api/upload", { token: tokens.admin, json: { a: 1 } })).status, 415);
    assert.equal((await server.call("POST", "/api/upload", { token: tokens.viewerRetail, body: form("x.csv", "a") })).status, 403);
    const bad = await server.call("POST", "/api/upload", { token: tokens.admin, body: form("x.csv", "nope\n1\n") });
    assert.equal(bad.body.upload.status, "failed");
    assert.equal(bad.body.upload.rowsImported, 0);
    assert.equal((await server.call("DELETE", `/api/uploads/${bad.body.upload.id}`, { token: tokens.admin })).status, 204);
  });
});

describe("framework behaviour", () => {
  test("unknown paths are JSON 404s, unknown methods 405, trailing slashes redirect", async () => {
    const missing = await server.call("GET", "/api/nope", { token: tokens.admin });
    assert.deepEqual(missing.body, { error: "not_found", message: "Not found" });
    assert.equal((await server.call("PUT", "/api/alerts", { token: tokens.admin })).status, 405);
    const slash = await server.call("GET", "/api/cases/", { token: tokens.admin });
    assert.equal(slash.status, 308);
    assert.equal(slash.headers.get("location"), "/api/cases");
  });
});
