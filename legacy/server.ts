/**
 * The production server: Next.js's request handler plus the realtime WebSocket
 * (`/api/realtime`), as a custom Node server. Binds 127.0.0.1 on $PORT.
 *
 * A subscriber authenticates like any request (Bearer header, `session` cookie, or
 * `?token=`), gets `{"type":"ready",...}`, then `{"type":"event","event":Event}` for every
 * events row written after it connected that it may see (lib/realtime.ts), in id order.
 */
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import next from "next";
import { WebSocketServer, type WebSocket } from "ws";
import { authenticate } from "./lib/auth";
import { getSqlite } from "./lib/db";
import { startWorker } from "./lib/jobs";
import { ApiError } from "./lib/http";
import { latestEventId, pendingMessages } from "./lib/realtime";

const POLL_MS = 100;
const port = Number(process.env.PORT ?? 3000);

function requestOf(req: IncomingMessage): Request {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers.set(name, value);
  }
  const token = url.searchParams.get("token");
  if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
  return new Request(url, { headers });
}

function subscribe(ws: WebSocket, req: IncomingMessage): void {
  let user;
  try {
    user = authenticate(requestOf(req)).user;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    ws.send(JSON.stringify({ type: "error", error: error.code, message: error.message }));
    ws.close(4401, "unauthorized");
    return;
  }
  const sqlite = getSqlite();
  let after = latestEventId(sqlite);
  ws.send(JSON.stringify({ type: "ready", userId: user.id, role: user.role, businessUnit: user.businessUnit, after }));
  const timer = setInterval(() => {
    const pending = pendingMessages(sqlite, user, after);
    after = pending.after;
    for (const message of pending.messages) ws.send(message);
  }, POLL_MS);
  ws.on("close", () => clearInterval(timer));
}

async function main(): Promise<void> {
  // Next.js hooks the `upgrade` event of the server its first request arrives on and ends
  // every upgrade it does not own; give it a stand-in and pass it only the other upgrades.
  const standIn = new EventEmitter() as unknown as Server;
  const app = next({ dev: false, hostname: "127.0.0.1", port, httpServer: standIn });
  const handle = app.getRequestHandler();
  await app.prepare();
  const nextUpgrade = app.getUpgradeHandler();
  const server = createServer((req, res) => void handle(req, res));
  const sockets = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    if (new URL(req.url ?? "/", "http://127.0.0.1").pathname === "/api/realtime") {
      sockets.handleUpgrade(req, socket, head, (ws) => subscribe(ws, req));
    } else {
      void nextUpgrade(req, socket, head);
    }
  });
  server.listen(port, "127.0.0.1", () => console.log(`ready on http://127.0.0.1:${port}`));
  // the job worker loop (lib/jobs.ts): claims queued jobs from the database, this process
  startWorker();
  // stop at once on a signal: open sockets and poll timers would otherwise keep the process up
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
