/** The realtime channel (/api/realtime on the custom server): auth, scope, order. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
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

interface Subscriber {
  messages: { type: string; event?: { id: number; kind: string; businessUnit: string | null } }[];
  closed: Promise<number>;
  close: () => void;
}

async function subscribe(query: string, headers: Record<string, string> = {}): Promise<Subscriber> {
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/realtime${query}`, { headers });
  const messages: Subscriber["messages"] = [];
  const ready = new Promise<void>((resolve) =>
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString());
      messages.push(message);
      if (message.type !== "event") resolve();
    }),
  );
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  await ready;
  return { messages, closed, close: () => ws.close() };
}

const settle = () => new Promise((r) => setTimeout(r, 400));

describe("realtime", () => {
  test("an anonymous subscriber gets the error and close code 4401", async () => {
    const anon = await subscribe("");
    assert.deepEqual(anon.messages, [{ type: "error", error: "unauthorized", message: "Authentication required" }]);
    assert.equal(await anon.closed, 4401);
  });

  test("events arrive in id order, scoped to the subscriber's unit (token, header or cookie)", async () => {
    const agent = await subscribe(`?token=${tokens.agentRetail}`);
    const smb = await subscribe("", { authorization: `Bearer ${tokens.agentSmb}` });
    const admin = await subscribe("", { cookie: `session=${tokens.admin}` });
    assert.equal(agent.messages[0].type, "ready");
    const create = (unit: string) =>
      server.call("POST", "/api/cases", {
        token: tokens.admin,
        json: { title: `rt ${unit}`, channel: "web", category: "x", customerName: "y", businessUnit: unit },
      });
    const retail = await create("retail");
    await create("smb");
    await server.call("POST", `/api/cases/${retail.body.id}/chat`, { token: tokens.agentRetail, json: { body: "hi" } });
    await server.call("DELETE", `/api/cases/${retail.body.id}`, { token: tokens.admin });
    await server.call("POST", "/api/trending/compute", { token: tokens.admin, json: {} });
    await settle();
    const kinds = (s: Subscriber) => s.messages.filter((m) => m.type === "event").map((m) => m.event!.kind);
    assert.deepEqual(kinds(agent), ["case.created", "chat.created", "case.deleted", "trending.computed"]);
    assert.deepEqual(kinds(smb), ["case.created", "trending.computed"]);
    assert.deepEqual(kinds(admin), ["case.created", "case.created", "chat.created", "case.deleted", "trending.computed"]);
    const ids = admin.messages.filter((m) => m.type === "event").map((m) => m.event!.id);
    assert.deepEqual([...ids].sort((a, b) => a - b), ids);
    for (const s of [agent, smb, admin]) s.close();
  });

  test("sessions and notifications reach only their own user", async () => {
    const viewer = await subscribe(`?token=${tokens.viewerRetail}`);
    const agent = await subscribe(`?token=${tokens.agentRetail}`);
    await server.login(...USERS.agentRetail);
    await settle();
    assert.deepEqual(viewer.messages.filter((m) => m.type === "event"), []);
    assert.deepEqual(agent.messages.filter((m) => m.type === "event").map((m) => m.event!.kind), ["auth.login"]);
    viewer.close();
    agent.close();
  });
});
