import { getSqlite } from "@/lib/db";
import { nowIso } from "@/lib/time";

export async function GET() {
  try {
    getSqlite().prepare("select 1").get();
    return Response.json({ status: "ok", database: "ok", time: nowIso() });
  } catch {
    return Response.json({ status: "error", database: "error", time: nowIso() }, { status: 503 });
  }
}
