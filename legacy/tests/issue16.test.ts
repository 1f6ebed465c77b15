/** Events, inbox, shares, chat, export, trending, pulse and predictions (issue 16). */
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

function query<T>(sql: string, ...params: unknown[]): T[] {
  const conn = new Database(server.dbPath, { readonly: true });
  try {
    return conn.prepare(sql).all(...params) as T[];
  } finally {
    conn.close();
  }
}
const one = <T>(sql: string, ...params: unknown[]): T => query<T>(sql, ...params)[0];
const userId = (email: string) => one<{ id: number }>("SELECT id FROM users WHERE email = ?", email).id;
async function openRetailCase(): Promise<number> {
  const res = await server.call("POST", "/api/cases", {
    token: tokens.admin,
    json: { title: "Fresh case", channel: "chat", category: "billing", customerName: "Grace", businessUnit: "retail" },
  });
  assert.equal(res.status, 201);
  return res.body.id;
}

describe("events", () => {
  test("admin only, newest first, filtered by kind and subject", async () => {
    assert.equal((await server.call("GET", "/api/events", { token: tokens.agentRetail })).status, 403);
    const res = await server.call("GET", "/api/events?kind=auth.login&limit=100", { token: tokens.admin });
    assert.equal(res.status, 200);
    assert.ok(res.body.data.length >= 4, "one login event per test user");
    assert.ok(res.body.data.every((e: { kind: string; subjectType: string }) => e.kind === "auth.login" && e.subjectType === "session"));
    const ids = res.body.data.map((e: { id: number }) => e.id);
    assert.deepEqual([...ids].sort((a, b) => b - a), ids);
    assert.deepEqual(res.body.data[0].payload, {});
  });

  test("the cursor walks every page once, and a bad cursor is a validation error", async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const path: string = `/api/events?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await server.call("GET", path, { token: tokens.admin });
      assert.equal(res.status, 200);
      seen.push(...res.body.data.map((e: { id: number }) => e.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    const all = query<{ id: number }>("SELECT id FROM events ORDER BY id DESC").map((r) => r.id);
    assert.deepEqual(seen.slice(0, all.length), all);
    const bad = await server.call("GET", "/api/events?cursor=nope", { token: tokens.admin });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.issues, [{ path: "cursor", code: "custom", message: "Invalid cursor" }]);
  });

  test("the time window is [since, until)", async () => {
    const future = await server.call("GET", "/api/events?since=2999-01-01T00:00:00Z", { token: tokens.admin });
    assert.deepEqual(future.body.data, []);
    const past = await server.call("GET", "/api/events?until=2000-01-01T00:00:00Z", { token: tokens.admin });
    assert.deepEqual(past.body.data, []);
    const bad = await server.call("GET", "/api/events?since=yesterday", { token: tokens.admin });
    assert.equal(bad.body.issues[0].message, "Invalid ISO datetime");
  });
});

describe("inbox and shares", () => {
  test("assigning someone else notifies them; reading marks it once", async () => {
    const caseId = await openRetailCase();
    const agent = userId("agent.retail@example.test");
    const res = await server.call("POST", `/api/cases/${caseId}/assign`, { token: tokens.admin, json: { assigneeId: agent } });
    assert.equal(res.status, 200);
    const inbox = await server.call("GET", "/api/inbox?unread=true", { token: tokens.agentRetail });
    const note = inbox.body.data[0];
    assert.equal(note.kind, "assignment");
    assert.equal(note.caseId, caseId);
    assert.equal(note.readAt, null);
    assert.match(note.message, new RegExp(`assigned you case #${caseId}`));
    assert.equal((await server.call("POST", `/api/inbox/${note.id}/read`, { token: tokens.admin })).status, 404);
    const read = await server.call("POST", `/api/inbox/${note.id}/read`, { token: tokens.agentRetail });
    assert.equal(read.status, 200);
    assert.match(read.body.readAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const again = await server.call("POST", `/api/inbox/${note.id}/read`, { token: tokens.agentRetail });
    assert.equal(again.body.readAt, read.body.readAt);
    const after = await server.call("GET", "/api/inbox", { token: tokens.agentRetail });
    assert.equal(after.body.unreadCount, inbox.body.unreadCount - 1);
  });

  test("assigning yourself notifies nobody", async () => {
    const before = one<{ n: number }>("SELECT count(*) AS n FROM notifications").n;
    const caseId = await openRetailCase();
    await server.call("POST", `/api/cases/${caseId}/assign`, { token: tokens.agentRetail, json: { assigneeId: userId("agent.retail@example.test") } });
    assert.equal(one<{ n: number }>("SELECT count(*) AS n FROM notifications").n, before);
  });

  test("a share is stored with the recipient's email and notifies them", async () => {
    const caseId = await openRetailCase();
    const res = await server.call("POST", "/api/shares", {
      token: tokens.agentRetail,
      json: { caseId, sharedWith: "VIEWER.Retail@example.test", note: "look" },
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.sharedWith, "viewer.retail@example.test");
    assert.equal(res.body.createdBy, userId("agent.retail@example.test"));
    const inbox = await server.call("GET", "/api/inbox", { token: tokens.viewerRetail });
    assert.equal(inbox.body.data[0].kind, "share");
    assert.equal(inbox.body.data[0].caseId, caseId);
    const list = await server.call("GET", `/api/cases/${caseId}/shares`, { token: tokens.viewerRetail });
    assert.equal(list.body.data.at(-1).id, res.body.id);
  });

  test("a share to nobody, to oneself or to someone who cannot see the case is refused", async () => {
    const caseId = await openRetailCase();
    for (const [sharedWith, message] of [
      ["nobody@example.test", "Unknown recipient"],
      ["agent.retail@example.test", "Cannot share with yourself"],
      ["viewer.smb@example.test", "Recipient cannot see this case"],
    ]) {
      const res = await server.call("POST", "/api/shares", { token: tokens.agentRetail, json: { caseId, sharedWith } });
      assert.equal(res.status, 400);
      assert.deepEqual(res.body.issues, [{ path: "sharedWith", code: "custom", message }]);
    }
    assert.equal((await server.call("POST", "/api/shares", { token: tokens.viewerRetail, json: { caseId, sharedWith: "x" } })).status, 403);
  });
});

describe("chat", () => {
  test("messages in order, `after` pages, closed cases refuse new ones", async () => {
    const caseId = await openRetailCase();
    const first = await server.call("POST", `/api/cases/${caseId}/chat`, { token: tokens.agentRetail, json: { body: "one" } });
    assert.equal(first.status, 201);
    const second = await server.call("POST", `/api/cases/${caseId}/chat`, { token: tokens.admin, json: { body: "two" } });
    const all = await server.call("GET", `/api/cases/${caseId}/chat`, { token: tokens.viewerRetail });
    assert.deepEqual(all.body.data.slice(-2).map((m: { body: string }) => m.body), ["one", "two"]);
    const newer = await server.call("GET", `/api/cases/${caseId}/chat?after=${first.body.id}`, { token: tokens.viewerRetail });
    assert.deepEqual(newer.body.data.map((m: { id: number }) => m.id), [second.body.id]);
    assert.equal((await server.call("POST", `/api/cases/${caseId}/chat`, { token: tokens.viewerRetail, json: { body: "x" } })).status, 403);
    const closed = one<{ id: number }>("SELECT id FROM cases WHERE business_unit = 'retail' AND status = 'closed' LIMIT 1").id;
    const refused = await server.call("POST", `/api/cases/${closed}/chat`, { token: tokens.agentRetail, json: { body: "x" } });
    assert.deepEqual([refused.status, refused.body.message], [409, "Case is closed"]);
  });
});

describe("export", () => {
  test("CSV: header row, RFC 4180 quoting, CRLF, the caller's scope", async () => {
    const created = await server.call("POST", "/api/cases", {
      token: tokens.agentRetail,
      json: { title: 'Says "hi", twice\nreally', channel: "web", category: "quoting", customerName: "Ada", metadata: { a: [1, 2] } },
    });
    const res = await server.call("GET", "/api/export?resource=cases&category=QUOTING", { token: tokens.agentRetail });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/csv; charset=utf-8");
    assert.equal(res.headers.get("content-disposition"), 'attachment; filename="cases.csv"');
    const c = created.body;
    assert.equal(
      res.body,
      "id,title,description,channel,status,category,priority,businessUnit,customerName,assigneeId,metadata,createdAt,updatedAt\r\n" +
        `${c.id},"Says ""hi"", twice\nreally",,web,open,quoting,medium,retail,Ada,,"{""a"":[1,2]}",${c.createdAt},${c.updatedAt}\r\n`,
    );
    const smb = await server.call("GET", "/api/export?resource=cases&category=quoting", { token: tokens.agentSmb });
    assert.equal(smb.body.split("\r\n").length, 2, "header only: the row is another unit's");
  });

  test("JSON is the list endpoint's resources; resource and format are validated first", async () => {
    const res = await server.call("GET", "/api/export?resource=alerts&format=json&severity=critical", { token: tokens.admin });
    const list = await server.call("GET", "/api/alerts?severity=critical&limit=100", { token: tokens.admin });
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(res.body, list.body.data);
    const bad = await server.call("GET", "/api/export?resource=users&severity=loud", { token: tokens.admin });
    assert.deepEqual(bad.body.issues.map((i: { path: string }) => i.path), ["resource"]);
    const filters = await server.call("GET", "/api/export?resource=alerts&severity=loud", { token: tokens.admin });
    assert.deepEqual(filters.body.issues.map((i: { path: string }) => i.path), ["severity"]);
  });
});

describe("trending, pulse, predictions", () => {
  test("compute follows the documented formula and stores asOf", async () => {
    assert.equal((await server.call("POST", "/api/trending/compute", { token: tokens.agentRetail, json: {} })).status, 403);
    const asOf = "2025-12-20T00:00:00.000Z";
    const res = await server.call("POST", "/api/trending/compute", { token: tokens.admin, json: { asOf, days: 30 } });
    assert.equal(res.status, 200);
    const rows = query<{ id: number; topic: string; priority: string; created_at: string }>(
      "SELECT id, lower(category) AS topic, priority, created_at FROM cases WHERE created_at > ? AND created_at <= ?",
      "2025-11-20T00:00:00.000Z",
      asOf,
    );
    const weight: Record<string, number> = { low: 1, medium: 2, high: 3, urgent: 5 };
    const expected = new Map<string, number>();
    for (const r of rows) {
      const age = Math.floor((Date.parse(asOf) - Date.parse(r.created_at)) / 86_400_000);
      expected.set(r.topic, (expected.get(r.topic) ?? 0) + weight[r.priority] * (30 - age));
    }
    for (const t of res.body.data) {
      assert.equal(t.score, expected.get(t.topic), t.topic);
      assert.equal(t.computedAt, asOf);
      assert.ok(t.sampleCaseIds.length >= 1 && t.sampleCaseIds.length <= 3);
    }
    const scores = res.body.data.map((t: { score: number }) => t.score);
    assert.deepEqual([...scores].sort((a, b) => b - a), scores);
    const top = res.body.data[0];
    const one = await server.call("GET", `/api/trending/${encodeURIComponent(top.topic)}`, { token: tokens.admin });
    assert.deepEqual(one.body.samples.map((c: { id: number }) => c.id), top.sampleCaseIds);
    assert.equal((await server.call("GET", "/api/trending/no-such-topic", { token: tokens.admin })).status, 404);
  });

  test("pulse counts match the table, with asOf from the data by default", async () => {
    const newest = one<{ at: string }>("SELECT max(created_at) AS at FROM cases").at;
    const latest = new Date(Math.ceil(Date.parse(newest) / 86_400_000) * 86_400_000).toISOString();
    const res = await server.call("GET", "/api/pulse?days=30", { token: tokens.agentSmb });
    assert.equal(res.status, 200);
    assert.equal(res.body.asOf, latest, "the end of the newest case's UTC day");
    assert.ok(latest > newest || latest === newest);
    const since = new Date(Date.parse(latest) - 30 * 86_400_000).toISOString();
    const opened = one<{ n: number }>(
      "SELECT count(*) AS n FROM cases WHERE created_at > ? AND created_at <= ? AND business_unit = 'smb'",
      since,
      latest,
    ).n;
    assert.equal(res.body.cases.opened, opened);
    const byChannel = Object.values(res.body.cases.byChannel as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.equal(byChannel, opened);
  });

  test("predictions: the weighted moving average of the weekly history", async () => {
    const res = await server.call("GET", "/api/predictions?weeks=3&asOf=2025-12-31T00:00:00Z", { token: tokens.admin });
    assert.equal(res.status, 200);
    assert.equal(res.body.forWeek.to, "2026-01-07T00:00:00.000Z");
    for (const c of res.body.channels) {
      assert.equal(c.history.length, 3);
      const [a, b, d] = c.history;
      assert.equal(c.predicted, Math.round((a + 2 * b + 3 * d) / 6));
    }
    const email = one<{ n: number }>(
      "SELECT count(*) AS n FROM cases WHERE channel = 'email' AND created_at > ? AND created_at <= ?",
      "2025-12-24T00:00:00.000Z",
      "2025-12-31T00:00:00.000Z",
    ).n;
    assert.equal(res.body.channels.find((c: { channel: string }) => c.channel === "email").history[2], email);
  });
});
