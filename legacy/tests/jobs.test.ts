/** Background jobs (a case summary run by the server's worker loop) and the signed webhook. */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { startServer, USERS, type Server } from "./server";

const SECRET = "legacy-test-webhook-secret";
process.env.WEBHOOK_SECRET = SECRET; // the server inherits it

let server: Server;
let admin: string;

before(async () => {
  server = await startServer();
  admin = await server.login(...USERS.admin);
});
after(async () => server?.stop());

function signed(body: string, key?: string, stamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = createHmac("sha256", SECRET).update(`${stamp}.${body}`).digest("hex");
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-signature": `sha256=${signature}`,
    "x-signature-timestamp": String(stamp),
  };
  if (key) headers["idempotency-key"] = key;
  return headers;
}

describe("case summary job", () => {
  test("202 with a Location that reaches done with the case's own counts", async () => {
    const sqlite = new Database(server.dbPath, { readonly: true });
    const { caseId } = sqlite
      .prepare("SELECT case_id AS caseId FROM alerts WHERE case_id IS NOT NULL GROUP BY case_id ORDER BY count(*) DESC LIMIT 1")
      .get() as { caseId: number };
    const alerts = sqlite.prepare("SELECT count(*) AS n FROM alerts WHERE case_id = ?").get(caseId) as { n: number };
    const chat = sqlite.prepare("SELECT count(*) AS n FROM chat_messages WHERE case_id = ?").get(caseId) as { n: number };
    sqlite.close();
    const queued = await server.call("POST", `/api/cases/${caseId}/summary`, { token: admin });
    assert.equal(queued.status, 202);
    assert.equal(queued.headers.get("location"), `/api/jobs/${queued.body.id}`);
    let job = queued.body;
    for (let i = 0; i < 300 && job.status !== "done" && job.status !== "failed"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await server.call("GET", `/api/jobs/${queued.body.id}`, { token: admin })).body;
    }
    assert.equal(job.status, "done");
    assert.equal(job.result.caseId, caseId);
    assert.equal(job.result.alerts.total, alerts.n);
    assert.ok(alerts.n > 0);
    assert.equal(job.result.chat.messages, chat.n);
  });

  test("another unit's case and job are 404", async () => {
    const smb = await server.login(...USERS.agentSmb);
    const retailCase = (await server.call("GET", "/api/cases?businessUnit=retail", { token: admin })).body.data[0];
    const queued = await server.call("POST", `/api/cases/${retailCase.id}/summary`, { token: admin });
    assert.equal((await server.call("POST", `/api/cases/${retailCase.id}/summary`, { token: smb })).status, 404);
    assert.equal((await server.call("GET", `/api/jobs/${queued.body.id}`, { token: smb })).status, 404);
  });
});

describe("signed alert webhook", () => {
  const body = JSON.stringify({ title: "Disk full", message: "db-1", severity: "critical", businessUnit: "retail" });

  test("a signed delivery creates an alert; the same key and body answer it again", async () => {
    const first = await server.call("POST", "/api/webhooks/alerts", { body, headers: signed(body, "k-1") });
    assert.equal(first.status, 201);
    const again = await server.call("POST", "/api/webhooks/alerts", { body, headers: signed(body, "k-1") });
    assert.deepEqual([again.status, again.body], [201, first.body]);
    const other = body.replace("db-1", "db-2");
    const conflict = await server.call("POST", "/api/webhooks/alerts", { body: other, headers: signed(other, "k-1") });
    assert.deepEqual([conflict.status, conflict.body.error], [409, "idempotency_conflict"]);
    const sqlite = new Database(server.dbPath, { readonly: true });
    const n = sqlite.prepare("SELECT count(*) AS n FROM alerts WHERE message = 'db-1'").get() as { n: number };
    sqlite.close();
    assert.equal(n.n, 1);
  });

  test("unsigned, re-serialized, and stale deliveries are 401", async () => {
    const reserialized = JSON.stringify(JSON.parse(body), null, 1);
    const cases = [
      { "content-type": "application/json" },
      signed(reserialized),
      signed(body, undefined, Math.floor(Date.now() / 1000) - 301),
    ];
    for (const headers of cases) {
      const res = await server.call("POST", "/api/webhooks/alerts", { body, headers });
      assert.deepEqual([res.status, res.body.error], [401, "invalid_signature"]);
    }
  });
});
