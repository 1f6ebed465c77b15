import { z } from "zod";

export type ErrorCode =
  | "validation_error"
  | "invalid_json"
  | "unauthorized"
  | "invalid_credentials"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "invalid_signature"
  | "idempotency_conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "internal_error";

const STATUS: Record<ErrorCode, number> = {
  validation_error: 400,
  invalid_json: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  invalid_signature: 401,
  idempotency_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
};

export interface Issue {
  path: string;
  code: string;
  message: string;
}

/** Thrown anywhere in a handler; `route()` turns it into the documented error body. */
export class ApiError extends Error {
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly issues?: Issue[],
    public readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export const notFound = (resource: string) => new ApiError("not_found", `${resource} not found`);
export const conflict = (message: string) => new ApiError("conflict", message);
export const forbidden = () => new ApiError("forbidden", "Insufficient permissions");

export function validationError(issues: Issue[]): ApiError {
  return new ApiError("validation_error", "Invalid request", issues);
}

export function customIssue(path: string, message: string): ApiError {
  return validationError([{ path, code: "custom", message }]);
}

export function toIssues(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    code: issue.code,
    message: issue.message,
  }));
}

export function parseWith<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(toIssues(result.error));
  return result.data;
}

export function parseQuery<T extends z.ZodType>(schema: T, request: Request): z.infer<T> {
  const params = new URL(request.url).searchParams;
  const raw: Record<string, string> = {};
  for (const [key, value] of params) if (!(key in raw)) raw[key] = value;
  return parseWith(schema, raw);
}

export async function readJson(request: Request): Promise<unknown> {
  const text = await request.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError("invalid_json", "Request body must be valid JSON");
  }
}

export const idParam = z.object({ id: z.coerce.number().int().positive() });

export async function parseId(params: Promise<{ id: string }>): Promise<number> {
  return parseWith(idParam, await params).id;
}

export function errorResponse(error: ApiError): Response {
  const body: Record<string, unknown> = { error: error.code, message: error.message };
  if (error.issues) body.issues = error.issues;
  return Response.json(body, { status: error.status, headers: error.headers });
}

type Handler<C> = (request: Request, context: C) => Promise<Response>;

/** Wraps a route handler: documented errors for ApiError, a 500 body for anything else. */
export function route<C>(handler: Handler<C>): Handler<C> {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (error) {
      if (error instanceof ApiError) return errorResponse(error);
      console.error(error);
      return errorResponse(new ApiError("internal_error", "Internal server error"));
    }
  };
}

export const noContent = (headers?: Record<string, string>) => new Response(null, { status: 204, headers });

/** RFC 7240: whether the request carries the preference `return=minimal` (`Prefer` may hold
 * several comma-separated preferences, each with `;` parameters; a preference's name is
 * case-insensitive and its value may be quoted). */
export function prefersMinimal(request: Request): boolean {
  const header = request.headers.get("prefer");
  if (!header) return false;
  return header.split(",").some((preference) => {
    const token = preference.split(";")[0] ?? "";
    const eq = token.indexOf("=");
    if (eq < 0) return false;
    const name = token.slice(0, eq).trim().toLowerCase();
    const value = token.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    return name === "return" && value.toLowerCase() === "minimal";
  });
}

/** The answer to a write whose client asked for `Prefer: return=minimal`: 204, no body. */
export const minimal = () => noContent({ "Preference-Applied": "return=minimal" });
