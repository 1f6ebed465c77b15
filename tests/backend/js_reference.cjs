// The JavaScript reference for tests/backend/test_js_differential.py: one long-lived process
// reading a JSON request per line on stdin ({"id", "fn", "args"}) and writing one JSON answer
// per line ({"id", "ok"} or {"id", "error"}). zod and the schemas come from the legacy itself.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const querystring = require("node:querystring");
const readline = require("node:readline");
const { createRequire } = require("node:module");

const LEGACY = path.resolve(process.argv[2] || path.join(__dirname, "..", "..", "legacy"));
const { z } = createRequire(path.join(LEGACY, "package.json"))("zod");

/** The text of `const NAME = ...;` at the top level of a TypeScript file, as JavaScript. */
function constSource(text, name) {
  const start = text.search(new RegExp(`^(?:export )?const ${name}\\b[^=]*=`, "m"));
  if (start < 0) throw new Error(`const ${name} not found`);
  const from = text.indexOf("=", start) + 1;
  let depth = 0;
  let quote = null;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'" || ch === "`") quote = ch;
    else if ("([{".includes(ch)) depth++;
    else if (")]}".includes(ch)) depth--;
    else if (ch === ";" && depth === 0) {
      // the TypeScript the schemas use: `as const` and typed arrow parameters `(max: number)`
      return text
        .slice(from, i)
        .replace(/\bas const\b/g, "")
        .replace(/\((\w+): \w+\)\s*=>/g, "($1) =>");
    }
  }
  throw new Error(`const ${name} has no end`);
}

/** Evaluate the named consts of a legacy file, in order, over the given scope. */
function load(file, names, scope) {
  const text = fs.readFileSync(path.join(LEGACY, file), "utf8");
  for (const name of names) {
    const keys = Object.keys(scope);
    const expr = constSource(text, name);
    scope[name] = new Function("z", ...keys, `return (${expr});`)(z, ...keys.map((k) => scope[k]));
  }
  return scope;
}

function schemas() {
  const base = {};
  load(
    "lib/validation.ts",
    ["CHANNELS", "CASE_STATUSES", "PRIORITIES", "SEVERITIES", "ALERT_STATUSES", "FEED_KINDS",
      "SCOPES", "businessUnit", "metadata", "positiveId", "limitOffset"],
    base,
  );
  const from = (file, names, scope = {}) => load(file, names, { ...base, ...scope });
  const alerts = from("lib/alerts.ts", ["AlertBody", "alertFilters"]);
  const cases = from("lib/cases.ts", [
    "fields", "CreateCase", "UpdateCase", "AssignBody", "SORTS", "caseFilters",
  ]);
  const feed = from("app/api/feed/route.ts", ["ListQuery", "Cursor", "CreateFeed"]);
  return {
    LOGIN: from("app/api/auth/login/route.ts", ["LoginBody"]).LoginBody,
    ALERT_BODY: alerts.AlertBody,
    ALERT_LIST: from("app/api/alerts/route.ts", ["ListQuery"], alerts).ListQuery,
    ALERT_COUNT: from("app/api/alerts/count/route.ts", ["CountQuery"]).CountQuery,
    CASE_CREATE: cases.CreateCase,
    CASE_PATCH: cases.UpdateCase,
    CASE_ASSIGN: cases.AssignBody,
    CASE_LIST: from("app/api/cases/route.ts", ["ListQuery"], cases).ListQuery,
    FEED_LIST: feed.ListQuery,
    FEED_CURSOR: feed.Cursor,
    FEED_CREATE: feed.CreateFeed,
    SEARCH: from("app/api/search/route.ts", ["SearchQuery"]).SearchQuery,
    SEARCH_ANALYTICS: from("app/api/search/analytics/route.ts", ["AnalyticsQuery"]).AnalyticsQuery,
    UPLOAD_LIST: from("app/api/uploads/route.ts", ["ListQuery"]).ListQuery,
    ID_PARAM: from("lib/http.ts", ["idParam"]).idParam,
  };
}

let SCHEMAS = null;

/** A double from its 8 IEEE-754 bytes (hex, big-endian): NaN, -0 and infinities survive. */
function fromBits(hex) {
  return Buffer.from(hex, "hex").readDoubleBE(0);
}

/** What JSON cannot carry as a number, tagged the way the Python side reads it back. */
function number(value) {
  if (Number.isNaN(value)) return { nan: true };
  if (!Number.isFinite(value)) return { inf: value > 0 ? 1 : -1 };
  if (Object.is(value, -0)) return { negzero: true };
  return value;
}

const FUNCTIONS = {
  json_number: (bits) => JSON.stringify(fromBits(bits)),
  stringify: (value) => JSON.stringify(value),
  string_to_number: (text) => number(Number(text)),
  to_iso_string: (ms) => new Date(ms).toISOString(),
  iso_string_normalize: (text) => new Date(text).toISOString(),
  base64url_encode: (hex) => Buffer.from(hex, "hex").toString("base64url"),
  base64url_decode: (text) => Buffer.from(text, "base64url").toString("hex"),
  encode_uri_component: (text) => encodeURIComponent(text),
  querystring_reserialize: (raw) => querystring.stringify(querystring.parse(raw)),
  to_lower_case: (text) => text.toLowerCase(),
  zod: (name, input) => {
    SCHEMAS ??= schemas();
    const result = SCHEMAS[name].safeParse(input);
    if (result.success) return { data: result.data === undefined ? null : result.data };
    return {
      issues: result.error.issues.map((issue) => ({
        path: issue.path.map(String).join("."),
        code: issue.code,
        message: issue.message,
      })),
    };
  },
};

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  const { id, fn, args } = JSON.parse(line);
  let answer;
  try {
    answer = { id, ok: FUNCTIONS[fn](...args) };
  } catch (error) {
    answer = { id, error: `${error.name}: ${error.message}` };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
});
