/** Starts the BUILT legacy (server.ts, as `npm start`) on a free port over a freshly seeded database. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const ROOT = path.join(__dirname, "..");

export interface Server {
  url: string;
  dbPath: string;
  stop: () => Promise<void>;
  login: (email: string, password: string) => Promise<string>;
  call: (method: string, route: string, options?: CallOptions) => Promise<{ status: number; body: any; headers: Headers }>;
}

export interface CallOptions {
  token?: string;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function startServer(): Promise<Server> {
  const bundle = path.join(ROOT, "dist", "server.cjs");
  if (!fs.existsSync(path.join(ROOT, ".next", "BUILD_ID")) || !fs.existsSync(bundle)) {
    throw new Error("run `npm run build` first");
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "legacy-test-"));
  const dbPath = path.join(dir, "test.db");
  const seeded = spawnSync("npx", ["tsx", "scripts/seed.ts", "--cases", "60", "--alerts", "40", "--feed", "24"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_PATH: dbPath },
    encoding: "utf8",
  });
  if (seeded.status !== 0) throw new Error(`seed failed: ${seeded.stderr}`);
  const port = await freePort();
  // the production server: Next.js plus the realtime WebSocket (server.ts bundled), as `npm start`
  const child: ChildProcess = spawn(process.execPath, [bundle], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_PATH: dbPath, PORT: String(port), NODE_ENV: "production" },
    detached: true,
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error("legacy did not become healthy");
    await new Promise((r) => setTimeout(r, 200));
  }
  const call: Server["call"] = async (method, route, options = {}) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body = options.body;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    const res = await fetch(url + route, { method, headers, body, redirect: "manual" });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    url,
    dbPath,
    call,
    login: async (email, password) => {
      const res = await call("POST", "/api/auth/login", { json: { email, password } });
      if (res.status !== 200) throw new Error(`login ${email}: ${res.status}`);
      return (res.body as { token: string }).token;
    },
    stop: async () => {
      if (child.pid) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 300));
      if (child.pid) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const USERS = {
  admin: ["admin@example.test", "parity-admin"],
  agentRetail: ["agent.retail@example.test", "parity-agent"],
  agentSmb: ["agent.smb@example.test", "parity-agent"],
  viewerRetail: ["viewer.retail@example.test", "parity-viewer"],
} as const;
