"""The catalogue: named, documented migration drifts of the FastAPI port (issue 7).

Each mutant is one small mistake a team porting the Next.js service to FastAPI could
plausibly make. ``build()`` installs its SQL hooks and monkeypatches (process-wide, so the
launcher calls it once, in the server process) and returns the ASGI wrappers to put around
``backend.app.create_app()``. ``operations`` names the contract operations whose behaviour
it changes: the harness is aimed at exactly those, and a detection must name one of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tests.mutants.mechanics import (
    CURRENT_OP,
    Headers,
    Wrapper,
    after_sql,
    json_body,
    json_request,
    on_sql,
    rewrite_request,
    rewrite_response,
    set_header,
)

FAMILIES = (
    "shape",
    "format",
    "status",
    "error",
    "list",
    "search",
    "db",
    "security",
    "header",
    "state",
    "edge",
    "import",
    "realtime",
    "export",
    "compute",
    "durability",
)


@dataclass(frozen=True)
class Mutant:
    name: str
    family: str
    description: str
    operations: tuple[str, ...]
    build: Callable[[], list[Wrapper]] = field(repr=False)


CATALOGUE: dict[str, Mutant] = {}


def mutant(name: str, family: str, description: str, *operations: str) -> Callable[..., Any]:
    assert family in FAMILIES, family

    def register(fn: Callable[[], list[Wrapper]]) -> Callable[[], list[Wrapper]]:
        assert name not in CATALOGUE, name
        CATALOGUE[name] = Mutant(name, family, description, tuple(operations), fn)
        return fn

    return register


# Mutants only replayed traffic is meant to catch (issue 29): data- and sequence-dependent
# drift that generated cases on a restored snapshot do not reach. Kept out of CATALOGUE (the
# generated run's catalogue, tests/mutants/test_mutants.py); tests/traffic/test_mutants_replay.py
# runs them under ``--traffic`` and measures the generated run beside it.
REPLAY_ONLY: dict[str, Mutant] = {}


def get(name: str) -> Mutant:
    try:
        return CATALOGUE.get(name) or REPLAY_ONLY[name]
    except KeyError:
        known = ", ".join(sorted([*CATALOGUE, *REPLAY_ONLY]))
        raise KeyError(f"unknown mutant {name!r} (known: {known})") from None


# -- helpers --------------------------------------------------------------------------------
def _each(data: Any, key: str) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{3})Z$")


def _retime(value: Any, fmt: Callable[[re.Match[str]], str]) -> Any:
    if isinstance(value, str):
        m = _ISO.match(value)
        return fmt(m) if m else value
    return value


# ===========================================================================================
# response shape
# ===========================================================================================
@mutant(
    "case-field-dropped",
    "shape",
    "GET /api/cases/{id} omits customerName (the response model forgot the field)",
    "GET /api/cases/{id}",
)
def _case_field_dropped() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if isinstance(data, dict):
            data.pop("customerName", None)
        return data

    return [rewrite_response(["GET /api/cases/{id}"], json_body(fn, statuses=[200]))]


@mutant(
    "alert-field-added",
    "shape",
    "alerts in GET /api/alerts carry an extra `acknowledgedByName` (a joined column leaked)",
    "GET /api/alerts",
)
def _alert_field_added() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        for item in _each(data, "data"):
            item["acknowledgedByName"] = None
        return data

    return [rewrite_response(["GET /api/alerts"], json_body(fn, statuses=[200]))]


@mutant(
    "user-field-renamed",
    "shape",
    "GET /api/auth/me says `business_unit` instead of `businessUnit` (alias_generator missing)",
    "GET /api/auth/me",
)
def _user_field_renamed() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        user = data.get("user") if isinstance(data, dict) else None
        if isinstance(user, dict) and "businessUnit" in user:
            user = {("business_unit" if k == "businessUnit" else k): v for k, v in user.items()}
            data["user"] = user
        return data

    return [rewrite_response(["GET /api/auth/me"], json_body(fn, statuses=[200]))]


@mutant(
    "case-metadata-null",
    "shape",
    "GET /api/cases writes `metadata: null` where the legacy omits the key (exclude_none off)",
    "GET /api/cases",
)
def _case_metadata_null() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        for item in _each(data, "data"):
            if "metadata" not in item:
                rebuilt = {}
                for k, v in item.items():
                    if k == "createdAt":
                        rebuilt["metadata"] = None
                    rebuilt[k] = v
                item.clear()
                item.update(rebuilt)
        return data

    return [rewrite_response(["GET /api/cases"], json_body(fn, statuses=[200]))]


@mutant(
    "alert-count-flattened",
    "shape",
    "GET /api/alerts/count flattens bySeverity/byStatus into top-level keys",
    "GET /api/alerts/count",
)
def _alert_count_flattened() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {"total": data.get("total")}
        for group in ("bySeverity", "byStatus"):
            nested = data.get(group)
            if isinstance(nested, dict):
                out.update(nested)
        return out

    return [rewrite_response(["GET /api/alerts/count"], json_body(fn, statuses=[200]))]


# ===========================================================================================
# formats
# ===========================================================================================
@mutant(
    "dates-without-millis",
    "format",
    "GET /api/alerts/{id} writes times as `2026-01-05T10:20:30Z` (no milliseconds)",
    "GET /api/alerts/{id}",
)
def _dates_without_millis() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if isinstance(data, dict):
            for key in list(data):
                data[key] = _retime(data[key], lambda m: f"{m.group(1)}Z")
        return data

    return [rewrite_response(["GET /api/alerts/{id}"], json_body(fn, statuses=[200]))]


@mutant(
    "dates-plus-offset",
    "format",
    "GET /api/cases writes times with Python's isoformat(): `...10:20:30.123000+00:00`",
    "GET /api/cases",
)
def _dates_plus_offset() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        for item in _each(data, "data"):
            for key in ("createdAt", "updatedAt"):
                item[key] = _retime(item.get(key), lambda m: f"{m.group(1)}.{m.group(2)}000+00:00")
        return data

    return [rewrite_response(["GET /api/cases"], json_body(fn, statuses=[200]))]


@mutant(
    "feed-expiry-stored-isoformat",
    "format",
    "POST /api/feed stores expires_at via datetime.isoformat() (`+00:00`, no millis) in the DB",
    "POST /api/feed",
)
def _feed_expiry_isoformat() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if statement.startswith("INSERT INTO feed_items") and isinstance(params, tuple):
            params = tuple(_retime(p, lambda m: f"{m.group(1)}+00:00") for p in params)
        return statement, params

    on_sql(["POST /api/feed"], fn)
    return []


@mutant(
    "feed-priority-float",
    "format",
    "GET /api/feed writes priority as `50.0` where the legacy writes `50` (a float column type)",
    "GET /api/feed",
)
def _feed_priority_float() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        for item in _each(data, "data"):
            if isinstance(item.get("priority"), int):
                item["priority"] = float(item["priority"])
        return data

    return [rewrite_response(["GET /api/feed"], json_body(fn, statuses=[200]))]


@mutant(
    "severity-enum-case",
    "format",
    "GET /api/alerts writes severity as `CRITICAL` (a Python Enum's name instead of its value)",
    "GET /api/alerts",
)
def _severity_enum_case() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        for item in _each(data, "data"):
            if isinstance(item.get("severity"), str):
                item["severity"] = item["severity"].upper()
        return data

    return [rewrite_response(["GET /api/alerts"], json_body(fn, statuses=[200]))]


@mutant(
    "case-id-as-string",
    "format",
    'GET /api/cases writes case ids as strings (`"12"`), as a str-typed response model would',
    "GET /api/cases",
)
def _case_id_as_string() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        for item in _each(data, "data"):
            if isinstance(item.get("id"), int):
                item["id"] = str(item["id"])
        return data

    return [rewrite_response(["GET /api/cases"], json_body(fn, statuses=[200]))]


@mutant(
    "feed-cursor-padded",
    "format",
    "GET /api/feed nextCursor keeps base64 `=` padding (urlsafe_b64encode without rstrip)",
    "GET /api/feed",
)
def _feed_cursor_padded() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("nextCursor"), str):
            cursor = data["nextCursor"]
            data["nextCursor"] = cursor + "=" * (-len(cursor) % 4)
        return data

    return [rewrite_response(["GET /api/feed"], json_body(fn, statuses=[200]))]


# ===========================================================================================
# status codes
# ===========================================================================================
@mutant(
    "create-case-200",
    "status",
    "POST /api/cases answers 200 instead of 201 (route declared without status_code=201)",
    "POST /api/cases",
)
def _create_case_200() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        return (200 if status == 201 else status), headers, body

    return [rewrite_response(["POST /api/cases"], fn)]


@mutant(
    "validation-422",
    "status",
    "PATCH /api/cases/{id} answers validation errors with 422 (FastAPI's code) instead of 400",
    "PATCH /api/cases/{id}",
)
def _validation_422() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if status == 400 and b'"validation_error"' in body:
            return 422, headers, body
        return status, headers, body

    return [rewrite_response(["PATCH /api/cases/{id}"], fn)]


@mutant(
    "method-not-allowed-404",
    "status",
    "a known path with an undeclared method (PUT /api/cases) answers 404 JSON, not a bare 405",
    "GET /api/cases",
    "GET /api/feed",
    "DELETE /api/alerts/{id}",
)
def _method_not_allowed_404() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if status == 405:
            headers = set_header(headers, "content-type", "application/json")
            return 404, headers, b'{"error":"not_found","message":"Not found"}'
        return status, headers, body

    return [rewrite_response(None, fn)]


@mutant(
    "trailing-slash-307",
    "status",
    "a trailing slash answers FastAPI's 307 redirect (empty body) instead of Next.js's 308",
    "GET /api/cases/{id}",
    "GET /api/alerts/{id}",
    "GET /api/uploads/{id}",
    "DELETE /api/cases/{id}",
)
def _trailing_slash_307() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if status == 308:
            headers = [(k, v) for k, v in headers if k.lower() != b"refresh"]
            return 307, headers, b""
        return status, headers, body

    def slash(scope: Any) -> bool:
        path = scope.get("path", "")
        return len(path) > 1 and path.endswith("/")

    return [rewrite_response(None, fn, when=slash)]


@mutant(
    "delete-alert-200",
    "status",
    'DELETE /api/alerts/{id} answers 200 `{"ok":true}` instead of 204 with no body',
    "DELETE /api/alerts/{id}",
)
def _delete_alert_200() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if status == 204:
            return 200, set_header(headers, "content-type", "application/json"), b'{"ok":true}'
        return status, headers, body

    return [rewrite_response(["DELETE /api/alerts/{id}"], fn)]


# ===========================================================================================
# error bodies
# ===========================================================================================
@mutant(
    "not-found-detail",
    "error",
    'GET /api/alerts/{id} 404 body is FastAPI\'s `{"detail":"Alert not found"}` (HTTPException)',
    "GET /api/alerts/{id}",
)
def _not_found_detail() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if isinstance(data, dict) and data.get("error") == "not_found":
            return {"detail": data.get("message")}
        return data

    return [rewrite_response(["GET /api/alerts/{id}"], json_body(fn, statuses=[404]))]


@mutant(
    "validation-fastapi-shape",
    "error",
    "GET /api/alerts query errors come back as FastAPI's 422 `{detail:[{type,loc,msg,input}]}`",
    "GET /api/alerts",
)
def _validation_fastapi_shape() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        import json

        if status != 400:
            return status, headers, body
        try:
            data = json.loads(body)
        except ValueError:
            return status, headers, body
        if not isinstance(data, dict) or data.get("error") != "validation_error":
            return status, headers, body
        detail = [
            {
                "type": issue.get("code"),
                "loc": ["query", *str(issue.get("path", "")).split(".")],
                "msg": issue.get("message"),
                "input": None,
            }
            for issue in data.get("issues", [])
            if isinstance(issue, dict)
        ]
        out = json.dumps({"detail": detail}, separators=(",", ":")).encode()
        return 422, headers, out

    return [rewrite_response(["GET /api/alerts"], fn)]


@mutant(
    "unauthorized-detail",
    "error",
    'GET /api/feed without credentials answers `{"detail":"Not authenticated"}` (HTTPBearer)',
    "GET /api/feed",
)
def _unauthorized_detail() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if isinstance(data, dict) and data.get("error") == "unauthorized":
            return {"detail": "Not authenticated"}
        return data

    return [rewrite_response(["GET /api/feed"], json_body(fn, statuses=[401]))]


# ===========================================================================================
# lists
# ===========================================================================================
_LIMIT_OFFSET = re.compile(r"LIMIT \? OFFSET \?$")


@mutant(
    "cases-page-off-by-one",
    "list",
    "GET /api/cases skips one page too many: OFFSET page*pageSize instead of (page-1)*pageSize",
    "GET /api/cases",
)
def _cases_page_off_by_one() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if (
            statement.startswith("SELECT cases.id")
            and _LIMIT_OFFSET.search(statement)
            and isinstance(params, tuple)
            and len(params) >= 2
        ):
            limit, offset = params[-2], params[-1]
            params = (*params[:-2], limit, offset + limit)
        return statement, params

    on_sql(["GET /api/cases"], fn)
    return []


@mutant(
    "alerts-wrong-total",
    "list",
    "GET /api/alerts reports total = len(page) instead of the count of every matching row",
    "GET /api/alerts",
)
def _alerts_wrong_total() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data["total"] = len(data["data"])
        return data

    return [rewrite_response(["GET /api/alerts"], json_body(fn, statuses=[200]))]


@mutant(
    "cases-tiebreak-ascending",
    "list",
    "GET /api/cases breaks sort ties by id ASC even when the sort is descending",
    "GET /api/cases",
)
def _cases_tiebreak() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if statement.startswith("SELECT cases.id") and "ORDER BY" in statement:
            statement = statement.replace("cases.id DESC", "cases.id ASC")
        return statement, params

    on_sql(["GET /api/cases"], fn)
    return []


@mutant(
    "cases-category-case-sensitive",
    "list",
    "GET /api/cases?category= matches exactly instead of lower(category) = lower(?)",
    "GET /api/cases",
)
def _cases_category_case() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        return statement.replace("lower(cases.category) = lower(?)", "cases.category = ?"), params

    on_sql(["GET /api/cases"], fn)
    return []


@mutant(
    "feed-expired-shown",
    "list",
    "GET /api/feed shows expired items (the expires_at > now predicate lost its effect)",
    "GET /api/feed",
)
def _feed_expired_shown() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if statement.startswith("SELECT feed_items.id"):
            statement = statement.replace(
                "feed_items.expires_at > ?", "(feed_items.expires_at > ? OR 1)"
            )
        return statement, params

    on_sql(["GET /api/feed"], fn)
    return []


# ===========================================================================================
# search
# ===========================================================================================
@mutant(
    "search-ranking-reversed",
    "search",
    "GET /api/search orders by score DESC (bm25 is lower-is-better; the port sorted it wrong)",
    "GET /api/search",
)
def _search_ranking_reversed() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        results = _each(data, "results")
        if results:
            order = {"case": 0, "alert": 1, "feed": 2}
            results.sort(key=lambda h: (-h.get("score", 0), order.get(h.get("type"), 3), h["id"]))
            data["results"] = results
        return data

    return [rewrite_response(["GET /api/search"], json_body(fn, statuses=[200]))]


@mutant(
    "search-own-unit-keeps-global",
    "search",
    "GET /api/search?businessUnit= at the caller's own unit also lists feed items without a "
    "unit (the port's author read the filter as \"my unit's view\", which holds the global "
    "announcements as the caller's feed does); only a word of a global item, searched by a "
    "non-admin filtering on its own unit, shows it (values only in rows without a unit)",
    "GET /api/search",
)
def _search_own_unit_keeps_global() -> list[Wrapper]:
    import backend.routers.search as search

    kind, sql = search._SQL["feed"]
    unit = "AND (:unit IS NULL OR f.business_unit = :unit)"
    assert unit in sql
    search._SQL["feed"] = (
        kind,
        sql.replace(
            unit,
            "AND (:unit IS NULL OR f.business_unit = :unit"
            " OR (f.business_unit IS NULL AND :unit = :scope))",
        ),
    )
    return []


@mutant(
    "search-analytics-not-recorded",
    "search",
    "GET /api/search does not leave its search_analytics row (the insert was never committed)",
    "GET /api/search",
)
def _search_analytics_missing() -> list[Wrapper]:
    def fn(cursor: Any, statement: str, params: Any) -> None:
        if statement.startswith("INSERT INTO search_analytics"):
            cursor.execute(
                "DELETE FROM search_analytics WHERE id = (SELECT max(id) FROM search_analytics)"
            )

    after_sql(["GET /api/search"], fn)
    return []


# ===========================================================================================
# database writes
# ===========================================================================================
@mutant(
    "event-missing",
    "db",
    "POST /api/cases writes the case but no `case.created` events row",
    "POST /api/cases",
)
def _event_missing() -> list[Wrapper]:
    def fn(cursor: Any, statement: str, params: Any) -> None:
        if statement.startswith("INSERT INTO events") and "case.created" in (params or ()):
            cursor.execute("DELETE FROM events WHERE id = (SELECT max(id) FROM events)")

    after_sql(["POST /api/cases"], fn)
    return []


_SET_UPDATED = re.compile(r"(, )?updated_at=\?")


@mutant(
    "updated-at-not-bumped",
    "db",
    "PATCH /api/cases/{id} leaves cases.updated_at as it was (onupdate forgotten)",
    "PATCH /api/cases/{id}",
)
def _updated_at_not_bumped() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if not statement.startswith("UPDATE cases SET") or not isinstance(params, tuple):
            return statement, params
        head, sep, tail = statement.partition(" WHERE ")
        assignments = head[len("UPDATE cases SET ") :].split(", ")
        if "updated_at=?" not in assignments:
            return statement, params
        index = sum(a.count("?") for a in assignments[: assignments.index("updated_at=?")])
        assignments[assignments.index("updated_at=?")] = "updated_at=updated_at"
        params = params[:index] + params[index + 1 :]
        return "UPDATE cases SET " + ", ".join(assignments) + sep + tail, params

    on_sql(["PATCH /api/cases/{id}"], fn)
    return []


@mutant(
    "case-default-priority",
    "db",
    "POST /api/cases defaults priority to `low` (the pydantic default) instead of `medium`",
    "POST /api/cases",
)
def _case_default_priority() -> list[Wrapper]:
    def fn(data: Any) -> Any:
        if isinstance(data, dict) and "priority" not in data:
            data["priority"] = "low"
        return data

    return [rewrite_request(["POST /api/cases"], json_request(fn))]


@mutant(
    "feed-default-priority",
    "db",
    "POST /api/feed defaults priority to 0 instead of 50",
    "POST /api/feed",
)
def _feed_default_priority() -> list[Wrapper]:
    def fn(data: Any) -> Any:
        if isinstance(data, dict) and "priority" not in data:
            data["priority"] = 0
        return data

    return [rewrite_request(["POST /api/feed"], json_request(fn))]


@mutant(
    "extra-event-row",
    "db",
    "POST /api/alerts/{id}/acknowledge writes an extra `alert.updated` event beside its own",
    "POST /api/alerts/{id}/acknowledge",
)
def _extra_event_row() -> list[Wrapper]:
    def fn(cursor: Any, statement: str, params: Any) -> None:
        if statement.startswith("INSERT INTO events") and "alert.acknowledged" in (params or ()):
            cursor.execute(
                "INSERT INTO events (kind, subject_type, subject_id, actor_id, payload) "
                "SELECT 'alert.updated', subject_type, subject_id, actor_id, payload "
                "FROM events ORDER BY id DESC LIMIT 1"
            )

    after_sql(["POST /api/alerts/{id}/acknowledge"], fn)
    return []


@mutant(
    "upload-half-imported",
    "db",
    "POST /api/upload stops at the first bad row: earlier rows kept, later good rows dropped",
    "POST /api/upload",
)
def _upload_half_imported() -> list[Wrapper]:
    import backend.routers.uploads as uploads

    original = uploads.parse_cases_csv

    def parse(text: str, user: Any, **kw: Any) -> Any:
        result = original(text, user, **kw)
        if result.errors and not result.failure:
            first_bad = int(result.errors[0]["row"])
            result.rows = result.rows[: max(first_bad - 2, 0)]
        return result

    uploads.parse_cases_csv = parse  # type: ignore[assignment]
    return []


# ===========================================================================================
# security
# ===========================================================================================
@mutant(
    "viewer-can-create-case",
    "security",
    "POST /api/cases forgets the agent role check: a viewer can create cases",
    "POST /api/cases",
)
def _viewer_can_write() -> list[Wrapper]:
    from backend.deps import Caller

    original = Caller.require

    def require(self: Caller, minimum: str) -> Caller:
        if CURRENT_OP.get() == "POST /api/cases":
            return self
        return original(self, minimum)

    Caller.require = require  # type: ignore[method-assign]
    return []


@mutant(
    "alerts-unit-leak",
    "security",
    "GET /api/alerts and /count do not scope non-admins to their business unit",
    "GET /api/alerts",
    "GET /api/alerts/count",
)
def _alerts_unit_leak() -> list[Wrapper]:
    import backend.routers.alerts as alerts

    original = alerts.alert_scope

    def alert_scope(session: Any, caller: Any, query: Any, filters: Any) -> Any:
        # every caller's list filtered as an admin's: no unit condition of its own
        (_admin, shape), params = original(session, caller, query, filters)
        params.pop("callerUnit", None)
        return (True, shape), params

    alerts.alert_scope = alert_scope
    return []


@mutant(
    "case-get-unit-leak",
    "security",
    "GET /api/cases/{id} returns another unit's case to a non-admin (404 expected)",
    "GET /api/cases/{id}",
)
def _case_get_unit_leak() -> list[Wrapper]:
    import backend.routers.cases as cases
    from backend.errors import not_found
    from backend.models import Case

    original = cases.see_case

    def see_case(session: Any, caller: Any, case_id: int) -> Any:
        if CURRENT_OP.get() != "GET /api/cases/{id}":
            return original(session, caller, case_id)
        row = session.get(Case, case_id)
        if row is None:
            raise not_found("Case")
        return row

    cases.see_case = see_case
    return []


@mutant(
    "session-kept-after-logout",
    "security",
    "POST /api/auth/logout clears the cookie but leaves the session row: the token still works",
    "POST /api/auth/logout",
)
def _session_kept() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if statement.startswith("DELETE FROM sessions WHERE"):
            statement = statement.replace("WHERE", "WHERE 0 AND", 1)
        return statement, params

    on_sql(["POST /api/auth/logout"], fn)
    return []


# ===========================================================================================
# headers
# ===========================================================================================
@mutant(
    "content-type-charset",
    "header",
    "GET /api/feed answers `application/json; charset=utf-8` (legacy: `application/json`)",
    "GET /api/feed",
)
def _content_type_charset() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        for name, value in headers:
            if name.lower() == b"content-type" and value == b"application/json":
                return (
                    status,
                    set_header(headers, "content-type", "application/json; charset=utf-8"),
                    body,
                )
        return status, headers, body

    return [rewrite_response(["GET /api/feed"], fn)]


@mutant(
    "login-no-set-cookie",
    "header",
    "POST /api/auth/login returns the token but no Set-Cookie header",
    "POST /api/auth/login",
)
def _login_no_cookie() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        return status, set_header(headers, "set-cookie", None), body

    return [rewrite_response(["POST /api/auth/login"], fn)]


@mutant(
    "logout-cookie-not-cleared",
    "header",
    "POST /api/auth/logout does not send the clearing `session=; Max-Age=0` Set-Cookie",
    "POST /api/auth/logout",
)
def _logout_no_cookie() -> list[Wrapper]:
    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        return status, set_header(headers, "set-cookie", None), body

    return [rewrite_response(["POST /api/auth/logout"], fn)]


# ===========================================================================================
# row states: only a request on an existing row in one particular state shows these
# ===========================================================================================
class _Status(str):
    """A status string whose comparison with some values is overridden: what a port gets
    when it compares the column's text with members of a plain ``enum.Enum``
    (``row.status == CaseStatus.CLOSED`` is never true), or with the wrong state. It
    serializes as the string it is, so responses and stored values stay the legacy's."""

    _answers: dict[str, bool]

    def __new__(cls, value: str, answers: dict[str, bool]) -> _Status:
        obj = super().__new__(cls, value)
        obj._answers = answers
        return obj

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and other in self._answers:
            return self._answers[other]
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


def _mask_status(row: Any, state: str, answers: dict[str, bool]) -> None:
    """When ``row.status`` is ``state``, make its comparisons answer as ``answers`` says,
    without marking the row dirty (no UPDATE unless the handler really changes it)."""
    from sqlalchemy.orm.attributes import set_committed_value

    if row is not None and str.__eq__(row.status, state):
        set_committed_value(row, "status", _Status(state, answers))


@mutant(
    "case-closed-check-enum",
    "state",
    "PATCH /api/cases/{id} compares status with a plain Enum member: closed cases accept any edit",
    "PATCH /api/cases/{id}",
)
def _case_closed_check_enum() -> list[Wrapper]:
    import backend.routers.cases as cases

    original = cases.find_case

    def find_case(session: Any, caller: Any, case_id: int) -> Any:
        row = original(session, caller, case_id)
        if CURRENT_OP.get() == "PATCH /api/cases/{id}":
            _mask_status(row, "closed", {"closed": False})
        return row

    cases.find_case = find_case
    return []


@mutant(
    "assign-open-stays-open",
    "state",
    "POST /api/cases/{id}/assign leaves an open case `open` (the move to in_progress not ported)",
    "POST /api/cases/{id}/assign",
)
def _assign_open_stays_open() -> list[Wrapper]:
    import backend.routers.cases as cases

    original = cases.find_case

    def find_case(session: Any, caller: Any, case_id: int) -> Any:
        row = original(session, caller, case_id)
        if CURRENT_OP.get() == "POST /api/cases/{id}/assign":
            _mask_status(row, "open", {"open": False})
        return row

    cases.find_case = find_case
    return []


@mutant(
    "assign-viewer-accepted",
    "state",
    "POST /api/cases/{id}/assign accepts a viewer of the case's unit as assignee (the role "
    "condition of the assignee check dropped)",
    "POST /api/cases/{id}/assign",
)
def _assign_viewer_accepted() -> list[Wrapper]:
    from sqlalchemy import select

    import backend.routers.cases as cases
    from backend.errors import custom_issue
    from backend.models import User

    original = cases.check_assignee

    def check_assignee(session: Any, assignee_id: int | None, unit: str) -> None:
        if CURRENT_OP.get() != "POST /api/cases/{id}/assign" or assignee_id is None:
            original(session, assignee_id, unit)
            return
        found = session.scalar(
            select(User.id).where(User.id == assignee_id, User.business_unit == unit)
        )
        if found is None:
            raise custom_issue("assigneeId", "Invalid assignee")

    cases.check_assignee = check_assignee
    return []


@mutant(
    "acknowledge-twice-200",
    "state",
    "POST /api/alerts/{id}/acknowledge re-stamps an already acknowledged alert: 200, not 409 "
    "(the check written `status == 'resolved'`)",
    "POST /api/alerts/{id}/acknowledge",
)
def _acknowledge_twice() -> list[Wrapper]:
    import backend.routers.alerts as alerts

    original = alerts.find_alert

    def find_alert(session: Any, caller: Any, alert_id: int) -> Any:
        row = original(session, caller, alert_id)
        if CURRENT_OP.get() == "POST /api/alerts/{id}/acknowledge":
            # `row.status != "active"` is now False: the handler re-stamps the alert
            _mask_status(row, "acknowledged", {"active": True})
        return row

    alerts.find_alert = find_alert
    return []


@mutant(
    "resolve-acknowledged-409",
    "state",
    "POST /api/alerts/{id}/resolve refuses acknowledged alerts with 409 (only `active` allowed, "
    "the acknowledge rule copied)",
    "POST /api/alerts/{id}/resolve",
)
def _resolve_acknowledged_409() -> list[Wrapper]:
    import backend.routers.alerts as alerts
    from backend.errors import conflict

    original = alerts.find_alert

    def find_alert(session: Any, caller: Any, alert_id: int) -> Any:
        row = original(session, caller, alert_id)
        if CURRENT_OP.get() == "POST /api/alerts/{id}/resolve" and row.status == "acknowledged":
            raise conflict("Alert is not active")
        return row

    alerts.find_alert = find_alert
    return []


@mutant(
    "alert-resolved-field-dropped",
    "state",
    "GET /api/alerts/{id} omits acknowledgedAt on resolved alerts (a per-status response model)",
    "GET /api/alerts/{id}",
)
def _alert_resolved_field_dropped() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        if isinstance(data, dict) and data.get("status") == "resolved":
            data.pop("acknowledgedAt", None)
        return data

    return [rewrite_response(["GET /api/alerts/{id}"], json_body(fn, statuses=[200]))]


@mutant(
    "alert-other-unit-403",
    "state",
    "GET /api/alerts/{id} answers 403 for another unit's existing alert (legacy: 404 as if missing)",
    "GET /api/alerts/{id}",
)
def _alert_other_unit_403() -> list[Wrapper]:
    import backend.routers.alerts as alerts
    from backend.errors import forbidden, not_found
    from backend.models import Alert

    original = alerts.see_alert

    def see_alert(session: Any, caller: Any, alert_id: int) -> Any:
        if CURRENT_OP.get() != "GET /api/alerts/{id}":
            return original(session, caller, alert_id)
        row = session.get(Alert, alert_id)
        if row is None:
            raise not_found("Alert")
        if not caller.can_see(row.business_unit):
            raise forbidden()
        return row

    alerts.see_alert = see_alert
    return []


# ===========================================================================================
# edges: only a value exactly at (or one past) a stated bound shows these
# ===========================================================================================
@mutant(
    "case-title-max-exclusive",
    "edge",
    "POST /api/cases checks the title's maxLength with `<` instead of `<=`: 200 chars rejected",
    "POST /api/cases",
)
def _case_title_max_exclusive() -> list[Wrapper]:
    from backend.schemas import CASE_CREATE
    from backend.validation import Str

    class ExclusiveMax(Str):
        def check(self, value: Any, path: str, issues: list[Any]) -> Any:
            if (
                CURRENT_OP.get() == "POST /api/cases"
                and isinstance(value, str)
                and self.max is not None
                and len(value) == self.max
            ):
                issues.append(
                    {
                        "path": path,
                        "code": "too_big",
                        "message": f"Too big: expected string to have <{self.max} characters",
                    }
                )
                return value
            return super().check(value, path, issues)

    fields = dict(CASE_CREATE.fields)
    fields["title"] = ExclusiveMax(min=1, max=200)
    CASE_CREATE.fields = fields
    return []


@mutant(
    "alerts-limit-max-101",
    "edge",
    "GET /api/alerts accepts limit=101 (the port's bound is `le=101`, the legacy's max is 100)",
    "GET /api/alerts",
)
def _alerts_limit_max_101() -> list[Wrapper]:
    from backend.schemas import ALERT_LIST, query_int

    fields = dict(ALERT_LIST.fields)
    fields["limit"] = query_int(1, 101).default(20)
    ALERT_LIST.fields = fields
    return []


@mutant(
    "feed-priority-zero-default",
    "edge",
    "POST /api/feed treats priority 0 as absent (`body.priority or 50`): stored and answered as 50",
    "POST /api/feed",
)
def _feed_priority_zero() -> list[Wrapper]:
    def fn(data: Any) -> Any:
        if isinstance(data, dict) and type(data.get("priority")) is int and data["priority"] == 0:
            del data["priority"]
        return data

    return [rewrite_request(["POST /api/feed"], json_request(fn))]


# ===========================================================================================
# CSV import: only a file with a particular shape shows these
# ===========================================================================================
@mutant(
    "upload-errors-capped-50",
    "import",
    "POST /api/upload lists the first 50 row errors (legacy: the first 100)",
    "POST /api/upload",
)
def _upload_errors_capped() -> list[Wrapper]:
    import backend.csv_import as csv_import

    csv_import.MAX_ERRORS = 50
    return []


@mutant(
    "upload-bom-kept",
    "import",
    "POST /api/upload keeps a leading UTF-8 BOM (decoded as utf-8, not utf-8-sig): "
    "the header's first column is not found",
    "POST /api/upload",
)
def _upload_bom_kept() -> list[Wrapper]:
    import backend.routers.uploads as uploads

    original = uploads.parse_cases_csv

    def parse(text: str, user: Any, **kw: Any) -> Any:
        if text.startswith("\ufeff"):
            text = "\ufeff" + text  # the port's own strip removes one of the two
        return original(text, user, **kw)

    uploads.parse_cases_csv = parse  # type: ignore[assignment]
    return []


@mutant(
    "upload-unknown-column-fails",
    "import",
    "POST /api/upload fails a file whose header has a column it does not know (legacy: ignored)",
    "POST /api/upload",
)
def _upload_unknown_column() -> list[Wrapper]:
    import backend.csv_import as csv_import
    import backend.routers.uploads as uploads

    original = uploads.parse_cases_csv
    known = set(csv_import.REQUIRED) | set(csv_import.OPTIONAL)

    def parse(text: str, user: Any, **kw: Any) -> Any:
        result = original(text, user, **kw)
        if result.failure:
            return result
        body = text[1:] if text.startswith("\ufeff") else text
        header = [name.strip() for name in csv_import._records(body)[0]]
        unknown = [name for name in header if name not in known]
        if unknown:
            return csv_import.ParsedImport(failure=f"Unknown columns: {', '.join(unknown)}")
        return result

    uploads.parse_cases_csv = parse  # type: ignore[assignment]
    return []


@mutant(
    "upload-split-lines-first",
    "import",
    "POST /api/upload splits the file into lines before parsing CSV: a quoted cell with a line "
    "break becomes two broken rows",
    "POST /api/upload",
)
def _upload_split_lines() -> list[Wrapper]:
    import csv

    import backend.csv_import as csv_import

    def records(text: str) -> list[list[str]]:
        out: list[list[str]] = []
        for line in text.splitlines():
            out.extend(r for r in csv.reader([line]) if r and r != [""])
        return out

    csv_import._records = records
    return []


@mutant(
    "upload-row-cap-1000",
    "import",
    "POST /api/upload imports only the first 1,000 good rows (one bulk-insert batch; the rest "
    "silently dropped)",
    "POST /api/upload",
)
def _upload_row_cap() -> list[Wrapper]:
    import backend.routers.uploads as uploads

    original = uploads.parse_cases_csv

    def parse(text: str, user: Any, **kw: Any) -> Any:
        result = original(text, user, **kw)
        result.rows = result.rows[:1000]
        return result

    uploads.parse_cases_csv = parse  # type: ignore[assignment]
    return []


@mutant(
    "upload-error-row-is-reader-line",
    "import",
    "POST /api/upload names each row error by the CSV reader's line number (physical lines "
    "read so far: blank lines and quoted line breaks counted), not by the record's number",
    "POST /api/upload",
)
def _upload_error_row_is_reader_line() -> list[Wrapper]:
    import csv
    import io

    import backend.routers.uploads as uploads

    original = uploads.parse_cases_csv

    def parse(text: str, user: Any, **kw: Any) -> Any:
        result = original(text, user, **kw)
        body = text[1:] if text.startswith("\ufeff") else text
        reader = csv.reader(io.StringIO(body, newline=""))
        line_of: dict[int, int] = {}  # record number (the header is 1) -> reader.line_num
        try:
            for record in reader:
                if record and record != [""]:
                    line_of[len(line_of) + 1] = reader.line_num
        except csv.Error:
            return result
        for error in result.errors:
            error["row"] = line_of.get(int(error["row"]), error["row"])
        return result

    uploads.parse_cases_csv = parse  # type: ignore[assignment]
    return []


__all__ = ["CATALOGUE", "FAMILIES", "Mutant", "get", "markdown"]


def markdown() -> str:
    """The catalogue as a table (``python -m tests.mutants.catalogue``)."""
    lines = ["| mutant | family | operations | drift |", "|---|---|---|---|"]
    for m in sorted(CATALOGUE.values(), key=lambda m: (FAMILIES.index(m.family), m.name)):
        ops = "<br>".join(f"`{op}`" for op in m.operations)
        lines.append(f"| `{m.name}` | {m.family} | {ops} | {m.description.replace('|', '/')} |")
    return "\n".join(lines)


@mutant(
    "events-since-exclusive",
    "list",
    "GET /api/events?since= keeps events created after the instant, not at it (`>` for `>=`): "
    "only a since equal to a stored created_at shows it (values from the data)",
    "GET /api/events",
)
def _events_since_exclusive() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        return statement.replace("events.created_at >= ?", "events.created_at > ?"), params

    on_sql(["GET /api/events"], fn)
    return []


# -- realtime: the event stream, caught only by comparing the two channels -------------------
@mutant(
    "realtime-leak-other-unit",
    "realtime",
    "the channel sends every event to every subscriber, other units' agents included",
    "POST /api/cases",
)
def _realtime_leak() -> list[Wrapper]:
    import backend.realtime as realtime

    realtime.visible_to = lambda user, event: True  # type: ignore[assignment]
    return []


@mutant(
    "realtime-drops-case-created",
    "realtime",
    "the channel never sends case.created events (the write itself is right)",
    "POST /api/cases",
)
def _realtime_drop() -> list[Wrapper]:
    import backend.realtime as realtime

    original = realtime.visible_to

    def visible(user: Any, event: Any) -> bool:
        return event.kind != "case.created" and original(user, event)

    realtime.visible_to = visible  # type: ignore[assignment]
    return []


@mutant(
    "realtime-drops-case-assigned",
    "realtime",
    "the channel never sends case.assigned events (a write on an existing row: the assign "
    "itself is right)",
    "POST /api/cases/{id}/assign",
)
def _realtime_drop_assigned() -> list[Wrapper]:
    import backend.realtime as realtime

    original = realtime.visible_to

    def visible(user: Any, event: Any) -> bool:
        return event.kind != "case.assigned" and original(user, event)

    realtime.visible_to = visible  # type: ignore[assignment]
    return []


# -- export: the CSV as written (header line, quoting), caught by the CSV comparison ----------
def _metadata_last(names: tuple[Any, ...], metadata: Any) -> tuple[Any, ...]:
    return (*[n for n in names if n is not metadata], metadata)


@mutant(
    "export-csv-metadata-last",
    "export",
    "GET /api/export writes the CSV metadata column last, after the timestamps (the optional "
    "field appended at the end), in the header and in every record",
    "GET /api/export",
)
def _export_metadata_last() -> list[Wrapper]:
    import backend.routers.export as export

    export.CASE_COLUMNS = _metadata_last(export.CASE_COLUMNS, "metadata")
    export.ALERT_COLUMNS = _metadata_last(export.ALERT_COLUMNS, "metadata")
    export.CASE_CELLS = _metadata_last(export.CASE_CELLS, export.CASE_CELLS[10])
    export.ALERT_CELLS = _metadata_last(export.ALERT_CELLS, export.ALERT_CELLS[10])
    return []


@mutant(
    "export-csv-backslash-quotes",
    "export",
    'GET /api/export escapes a quote inside a quoted CSV field as \\" instead of doubling it '
    "(csv.writer with escapechar and doublequote=False; RFC 4180 says double)",
    "GET /api/export",
)
def _export_backslash_quotes() -> list[Wrapper]:
    import backend.routers.export as export

    def field(value: Any) -> str:
        if value is None:
            return ""
        text = value if isinstance(value, str) else str(value)
        if export._NEEDS_QUOTES.search(text):
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return text

    export.csv_field = field
    return []


# -- compute: numbers derived from the history (trending scores) -----------------------------
@mutant(
    "trending-age-off-by-one",
    "compute",
    "POST /api/trending/compute counts a case's age from 1 (a case of the last day is one day "
    "old): every case scores weight x (days - age - 1), the oldest day's cases nothing",
    "POST /api/trending/compute",
)
def _trending_age_off_by_one() -> list[Wrapper]:
    from sqlalchemy import func, select

    import backend.routers.trending as trending_router
    import backend.trending as trending
    from backend.clock import DAY_MS, ms_iso, parse_ms
    from backend.models import Case

    def compute(session: Any, as_of: str, days: int) -> list[Any]:
        end = parse_ms(as_of)
        bounds = [ms_iso(end - k * DAY_MS) for k in range(days + 1)]
        rows = session.execute(
            select(Case.id, func.lower(Case.category), Case.priority, Case.created_at)
            .where(Case.created_at > bounds[days], Case.created_at <= bounds[0])
            .order_by(Case.id)
        ).all()
        topics: dict[str, Any] = {}
        for case_id, topic, priority, created_at in rows:
            age = 1  # the mistake: the last day's cases are already one day old
            while age < days and created_at <= bounds[age]:
                age += 1
            points = trending.PRIORITY_WEIGHT.get(priority, 1) * (days - age)
            entry = topics.setdefault(topic, trending._Topic())
            entry.score += points
            entry.cases.append((case_id, points, created_at))
        out = []
        for topic, entry in topics.items():
            ranked = sorted(entry.cases, key=lambda c: c[0], reverse=True)
            ranked.sort(key=lambda c: c[2], reverse=True)
            ranked.sort(key=lambda c: c[1], reverse=True)
            samples = [c[0] for c in ranked[: trending.SAMPLES]]
            out.append(trending.ComputedTopic(topic, entry.score, len(entry.cases), samples))
        out.sort(key=lambda t: trending._js_order(t.topic))
        out.sort(key=lambda t: -t.score)
        return out[: trending.MAX_TOPICS]

    trending_router.compute_topics = compute  # type: ignore[assignment]
    return []


# -- db: a write the legacy makes and the port forgets -----------------------------------------
@mutant(
    "share-recipient-not-notified",
    "db",
    "POST /api/shares stores the share and its event but never adds the recipient's inbox "
    "notification (the notify call lost in the port)",
    "POST /api/shares",
)
def _share_not_notified() -> list[Wrapper]:
    import backend.routers.shares as shares

    shares.notify = lambda *args, **kwargs: None  # type: ignore[assignment]
    return []


# -- reads after writes: only a read that runs after a write, before the restore, sees it ------
@mutant(
    "case-item-cached",
    "compute",
    "GET /api/cases/{id} caches its answer per caller and id (a response cache that updates "
    "do not invalidate): right on the seeded rows, stale after the case is changed",
    "GET /api/cases/{id}",
    "PATCH /api/cases/{id}",
    "POST /api/cases/{id}/assign",
)
def _case_item_cached() -> list[Wrapper]:
    cache: dict[tuple[bytes, str], bytes] = {}
    current: list[tuple[bytes, str]] = []

    def remember(scope: Any) -> bool:
        auth = dict(scope.get("headers") or []).get(b"authorization", b"")
        current[:] = [(auth, str(scope.get("path", "")))]
        return True

    def fn(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if status != 200 or not current:
            return status, headers, body
        return status, headers, cache.setdefault(current[0], body)

    return [rewrite_response(["GET /api/cases/{id}"], fn, when=remember)]


@mutant(
    "export-rows-since-start-missing",
    "export",
    "GET /api/export reads a copy of cases and alerts the port took when it started (an "
    "export table a startup job fills): rows created since the process started are missing "
    "from every export (right on the seeded rows; only an export sent after a create, before "
    "the restore, shows it: reads after writes)",
    "GET /api/export",
    "POST /api/cases",
)
def _export_rows_since_start_missing() -> list[Wrapper]:
    from backend.clock import now_iso

    started = now_iso()
    source = re.compile(r"\bFROM (cases|alerts)\b(\s+WHERE\s)?")

    def fn(statement: str, params: Any) -> tuple[str, Any]:
        def since(m: re.Match[str]) -> str:
            kept = f"{m.group(1)}.created_at <= '{started}'"
            return f"FROM {m.group(1)} WHERE {kept} " + ("AND " if m.group(2) else "")

        return source.sub(since, statement, count=1), params

    on_sql(["GET /api/export"], fn)
    return []


# -- combinations: only two inputs together show it ----------------------------------------------
_STATUSES = ("active", "acknowledged", "resolved")


@mutant(
    "alerts-unit-elif",
    "list",
    "GET /api/alerts builds its filters as an if/elif chain: with businessUnit given, the "
    "status filter is dropped (each filter alone is right; only a real unit with a status "
    "shows it: combined inputs)",
    "GET /api/alerts",
)
def _alerts_unit_elif() -> list[Wrapper]:
    from urllib.parse import parse_qsl, urlencode

    from tests.mutants.mechanics import operation_of

    def wrap(app: Any) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            http = scope["type"] == "http"
            if http and operation_of(scope["method"], scope.get("path", "")) == "GET /api/alerts":
                pairs = parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
                if any(k == "businessUnit" for k, _ in pairs):  # validated, then not applied
                    kept = [(k, v) for k, v in pairs if k != "status" or v not in _STATUSES]
                    scope = {**scope, "query_string": urlencode(kept).encode()}
            await app(scope, receive, send)

        return wrapped

    return [wrap]


# -- growth: only a list grown past its documented page size shows it ---------------------------
@mutant(
    "chat-default-page-40",
    "list",
    "GET /api/cases/{id}/chat pages 40 messages when no limit is given, not the documented "
    "default of 50 (each case of the seed has a few messages: only a case grown past 50 "
    "messages shows it: growth)",
    "GET /api/cases/{id}/chat",
    "POST /api/cases/{id}/chat",  # not mutated: the run grows the list with its creates
)
def _chat_default_page_40() -> list[Wrapper]:
    from urllib.parse import parse_qsl, urlencode

    from tests.mutants.mechanics import operation_of

    def wrap(app: Any) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            http = scope["type"] == "http"
            op = operation_of(scope["method"], scope.get("path", "")) if http else None
            if op == "GET /api/cases/{id}/chat":
                pairs = parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
                if not any(k == "limit" for k, _ in pairs):
                    query = urlencode([*pairs, ("limit", "40")]).encode()
                    scope = {**scope, "query_string": query}
            await app(scope, receive, send)

        return wrapped

    return [wrap]


# -- cursors: the same position in other bytes, read only in its own --------------------------
@mutant(
    "feed-cursor-own-base64",
    "list",
    "GET /api/feed writes its cursor in padded standard base64 (Python's b64encode) and reads "
    "only that back, so the legacy's unpadded base64url tokens, which clients hold when the "
    "route moves, are refused (400); each side's own walk still pages right",
    "GET /api/feed",
)
def _feed_cursor_own_base64() -> list[Wrapper]:
    import base64
    import json
    from urllib.parse import parse_qsl, urlencode

    from tests.mutants.mechanics import operation_of

    def to_standard(token: str) -> str:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return base64.b64encode(raw).decode()

    def to_url(token: str) -> str | None:
        if len(token) % 4:  # an unpadded token is not standard base64: refused
            return None
        return base64.urlsafe_b64encode(base64.b64decode(token)).decode().rstrip("=")

    def fn(status: int, headers: list[Any], body: bytes) -> tuple[int, list[Any], bytes]:
        if status != 200:
            return status, headers, body
        data = json.loads(body)
        if isinstance(data.get("nextCursor"), str):
            data["nextCursor"] = to_standard(data["nextCursor"])
        return status, headers, json.dumps(data, separators=(",", ":")).encode()

    response = rewrite_response(["GET /api/feed"], fn)

    def wrap(app: Any) -> Any:
        inner = response(app)

        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            http = scope["type"] == "http"
            if http and operation_of(scope["method"], scope.get("path", "")) == "GET /api/feed":
                pairs = parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
                out = []
                for k, v in pairs:
                    if k == "cursor":
                        try:
                            v = to_url(v) or "!"
                        except ValueError:
                            v = "!"
                    out.append((k, v))
                scope = {**scope, "query_string": urlencode(out).encode()}
            await inner(scope, receive, send)

        return wrapped

    return [wrap]


# -- row states x write bodies: only a row in one state meeting a body value shows it -------------
@mutant(
    "case-reopen-with-edits",
    "state",
    "PATCH /api/cases/{id} lets a closed case be edited whenever the body reopens it (the "
    "legacy's 'status: open and nothing else' check lost its 'nothing else'): only a closed "
    "row meeting status=open and another field shows it (row states x bodies)",
    "PATCH /api/cases/{id}",
)
def _case_reopen_with_edits() -> list[Wrapper]:
    import backend.routers.cases as cases

    original_find, original_parse = cases.find_case, cases.parse_body
    bodies: list[Any] = [None]

    async def parse_body(request: Any, schema: Any) -> Any:
        body = await original_parse(request, schema)
        bodies[0] = body
        return body

    def find_case(session: Any, caller: Any, case_id: int) -> Any:
        row = original_find(session, caller, case_id)
        body = bodies[0]
        if (
            CURRENT_OP.get() == "PATCH /api/cases/{id}"
            and isinstance(body, dict)
            and body.get("status") == "open"
        ):
            _mask_status(row, "closed", {"closed": False})
        return row

    cases.parse_body, cases.find_case = parse_body, find_case
    return []


# -- paging: only a walk to the next pages shows it ------------------------------------------------
@mutant(
    "feed-cursor-repeats-boundary",
    "list",
    "GET /api/feed's keyset condition says `created_at <= c` for `<`: every page after the "
    "first starts with the previous page's last item again (only following nextCursor shows "
    "it: lists walked to their last page)",
    "GET /api/feed",
)
def _feed_cursor_repeats_boundary() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        return statement.replace(
            "feed_items.created_at < ? OR", "feed_items.created_at <= ? OR"
        ), params

    on_sql(["GET /api/feed"], fn)
    return []


@mutant(
    "events-cursor-page-full-has-next",
    "list",
    "GET /api/events answers a page asked for with a cursor from a second query that fetches "
    "`limit` rows, not limit + 1, and says there is more whenever the page is full: a walk "
    "whose last page is exactly full gets a nextCursor (to an empty page) where the legacy "
    "says null (the first page is right; only a walk to an exactly full last page shows it)",
    "GET /api/events",
)
def _events_cursor_page_full_has_next() -> list[Wrapper]:
    from urllib.parse import parse_qs

    from backend.routers._common import encode_json_cursor

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
            if scope.get("type") != "http" or "cursor" not in query:
                await app(scope, receive, send)
                return
            try:
                limit = int(query.get("limit", ["20"])[0])
            except ValueError:
                limit = -1

            def fn(status: int, data: Any) -> Any:
                rows = _each(data, "data")
                full = bool(rows) and len(rows) == limit and "id" in rows[-1]
                if full and isinstance(data, dict) and data.get("nextCursor") is None:
                    data["nextCursor"] = encode_json_cursor({"i": rows[-1]["id"]})
                return data

            await rewrite_response(["GET /api/events"], json_body(fn, statuses=[200]))(app)(
                scope, receive, send
            )

        return wrapped

    return [wrap]


# -- replay only: drift that needs the data real traffic leaves behind ------------------------
def replay_mutant(name: str, family: str, description: str, *operations: str) -> Callable[..., Any]:
    """Registers in REPLAY_ONLY: caught by ``parity run --traffic``, not by generated cases."""
    assert family in FAMILIES, family

    def register(fn: Callable[[], list[Wrapper]]) -> Callable[[], list[Wrapper]]:
        assert name not in CATALOGUE, name
        assert name not in REPLAY_ONLY, name
        REPLAY_ONLY[name] = Mutant(name, family, description, tuple(operations), fn)
        return fn

    return register


def _startup_max_case_id() -> int:
    """The newest case id in the port's database when it started (SQLite; 0 elsewhere)."""
    import os
    import sqlite3

    path = os.environ.get("DATABASE_PATH", "")
    if not path:
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM cases").fetchone()[0])
    finally:
        conn.close()


@replay_mutant(
    "search-misses-new-cases",
    "search",
    "GET /api/search serves case hits from an index the port warmed at startup and never "
    "updates: words only in cases created since are not found (seeded rows: right)",
    "GET /api/search",
)
def _search_misses_new_cases() -> list[Wrapper]:
    known = _startup_max_case_id()

    def fn(status: int, data: Any) -> Any:
        results = _each(data, "results")
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            kept = [h for h in results if h.get("type") != "case" or int(h["id"]) <= known]
            data["total"] = int(data.get("total", 0)) - (len(results) - len(kept))
            data["results"] = kept
        return data

    return [rewrite_response(["GET /api/search"], json_body(fn, statuses=[200]))]


@replay_mutant(
    "search-empty-snippet-null",
    "shape",
    "GET /api/search writes `snippet: null` for a hit whose snippet is empty (`snippet or "
    "None`): only cases stored without a description, which the seed has none of",
    "GET /api/search",
)
def _search_empty_snippet_null() -> list[Wrapper]:
    def fn(status: int, data: Any) -> Any:
        for hit in _each(data, "results"):
            if hit.get("snippet") == "":
                hit["snippet"] = None
        return data

    return [rewrite_response(["GET /api/search"], json_body(fn, statuses=[200]))]


@replay_mutant(
    "search-analytics-distinct-users",
    "compute",
    "GET /api/search/analytics counts a popular query's searchers (count(DISTINCT user_id)) "
    "instead of its searches: only a query searched again by the same user shows it",
    "GET /api/search/analytics",
)
def _search_analytics_distinct_users() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if statement.lstrip().startswith("SELECT query, count(*) AS count"):
            statement = statement.replace("count(*) AS count", "count(DISTINCT user_id) AS count")
        return statement, params

    on_sql(["GET /api/search/analytics"], fn)
    return []


@replay_mutant(
    "uploads-oldest-first",
    "list",
    "GET /api/uploads lists uploads oldest first (the ORDER BY lost its DESC): only a unit "
    "with two uploads shows it, and the seed has none",
    "GET /api/uploads",
)
def _uploads_oldest_first() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        return (
            statement.replace(
                "ORDER BY uploads.created_at DESC, uploads.id DESC",
                "ORDER BY uploads.created_at ASC, uploads.id ASC",
            ),
            params,
        )

    on_sql(["GET /api/uploads"], fn)
    return []


@replay_mutant(
    "case-shares-newest-first",
    "list",
    "GET /api/cases/{id}/shares lists a case's shares newest first (ORDER BY id DESC): only a "
    "case shared twice shows it, and no seeded case is",
    "GET /api/cases/{id}/shares",
)
def _case_shares_newest_first() -> list[Wrapper]:
    def fn(statement: str, params: Any) -> tuple[str, Any]:
        if statement.startswith("SELECT shares.id") and statement.rstrip().endswith(
            "ORDER BY shares.id"
        ):
            statement = statement.rstrip() + " DESC"
        return statement, params

    on_sql(["GET /api/cases/{id}/shares"], fn)
    return []


# -- issue 27: background jobs, the signed webhook, idempotency ----------------------------------
def _mutate_worker() -> None:
    """Job mutants patch the worker process: the port starts tests.mutants.worker instead."""
    import os

    os.environ["JOBS_WORKER_MODULE"] = "tests.mutants.worker"


@mutant(
    "job-summary-all-rows",
    "compute",
    "the case-summary job counts the alerts of every case (the WHERE case_id filter lost in a "
    "refactor): the job settles `done` on both sides with different results",
    "POST /api/cases/{id}/summary",
)
def _job_summary_all_rows() -> list[Wrapper]:
    import backend.jobs as jobs

    _mutate_worker()
    original = jobs.raw_rows

    def raw_rows(session: Any, sql: str, params: Any) -> Any:
        if "FROM alerts WHERE case_id = ?" in sql:
            return original(session, sql.replace(" WHERE case_id = ?", ""), [])
        return original(session, sql, params)

    jobs.raw_rows = raw_rows  # type: ignore[assignment]
    return []


@mutant(
    "job-claim-lost-on-kill",
    "durability",
    "the port's worker prefetches: it claims every queued job (`running`) and works the batch "
    "half a second later, and its claim takes only `queued` jobs (the lease clause that retakes a dead "
    "worker's claims dropped): a job claimed when the process is killed stays `running` forever",
    "POST /api/cases/{id}/summary",
)
def _job_claim_lost_on_kill() -> list[Wrapper]:
    import time

    from sqlalchemy import text

    import backend.jobs as jobs
    import backend.worker as worker

    _mutate_worker()
    claim = text(
        "UPDATE jobs SET status = 'running', updated_at = :now WHERE id = (SELECT id FROM jobs "
        "WHERE status = 'queued' ORDER BY id LIMIT 1) AND status = 'queued' "
        "RETURNING id, case_id, requested_by"
    )

    def work_queued(session: Any) -> int:
        batch = []
        while (row := session.execute(claim, {"now": jobs.iso(jobs.now())}).first()) is not None:
            session.commit()
            batch.append(row)
        session.commit()
        if batch:
            time.sleep(0.5)  # the batch is worked after the prefetch: held only in memory
        for job in batch:
            jobs.finish(session, job)
        return len(batch)

    worker.work_queued = work_queued  # type: ignore[assignment]
    return []


@mutant(
    "webhook-signature-reserialized",
    "security",
    "POST /api/webhooks/alerts checks the HMAC over json.dumps(await request.json()) instead of "
    "the raw body bytes: a correctly signed delivery is refused 401",
    "POST /api/webhooks/alerts",
)
def _webhook_signature_reserialized() -> list[Wrapper]:
    import contextlib
    import json

    import backend.routers.webhooks as webhooks

    original = webhooks.verify_signature

    def verify(request: Any, raw: bytes, now_s: float | None = None) -> None:
        with contextlib.suppress(ValueError):
            raw = json.dumps(json.loads(raw)).encode()
        original(request, raw, now_s)

    webhooks.verify_signature = verify  # type: ignore[assignment]
    return []


@mutant(
    "webhook-key-per-unit",
    "db",
    "POST /api/webhooks/alerts scopes the Idempotency-Key per business unit (the caller's "
    "tenant) where the legacy keeps it global: the key reused with another unit's body "
    "creates a second alert instead of 409",
    "POST /api/webhooks/alerts",
)
def _webhook_key_per_unit() -> list[Wrapper]:
    import json

    import backend.routers.webhooks as webhooks

    original = webhooks.idempotency_key

    def scoped(request: Any) -> str | None:
        key = original(request)
        if key is None:
            return None
        try:
            unit = json.loads(request._body).get("businessUnit")
        except (ValueError, AttributeError):
            unit = None
        return f"{unit}/{key}"

    webhooks.idempotency_key = scoped  # type: ignore[assignment]
    return []


@mutant(
    "webhook-duplicate-inserted",
    "db",
    "POST /api/webhooks/alerts checks the key, then inserts (a slow validation step between), "
    "and ignores the unique key's refusal: two deliveries at once with one key create two alerts",
    "POST /api/webhooks/alerts",
)
def _webhook_duplicate_inserted() -> list[Wrapper]:
    import asyncio

    from sqlalchemy.exc import IntegrityError

    import backend.routers.webhooks as webhooks

    read_json, insert_row = webhooks.read_json, webhooks.insert_row

    async def slow_read_json(request: Any) -> Any:
        await asyncio.sleep(0.3)  # the window a real check-then-insert has under load
        return await read_json(request)

    def lenient_insert(session: Any, model: Any, **values: Any) -> None:
        if model is not webhooks.WebhookDelivery:
            insert_row(session, model, **values)
            return
        try:
            with session.begin_nested():
                insert_row(session, model, **values)
        except IntegrityError:
            pass  # "already recorded": the alert stays

    webhooks.read_json = slow_read_json  # type: ignore[assignment]
    webhooks.insert_row = lenient_insert  # type: ignore[assignment]
    return []


# -- issue 26: only a sequence that crosses states shows it ----------------------------------------
def _startup_alert_statuses() -> dict[int, str]:
    """Each alert's status in the port's database when it started (SQLite; none elsewhere)."""
    import os
    import sqlite3

    path = os.environ.get("DATABASE_PATH", "")
    if not path:
        return {}
    conn = sqlite3.connect(path)
    try:
        return {int(i): str(s) for i, s in conn.execute("SELECT id, status FROM alerts")}
    finally:
        conn.close()


@mutant(
    "alerts-status-filter-stale",
    "state",
    "GET /api/alerts?status= filters on an id->status index the port warmed at startup and "
    "fills on create, but acknowledge/resolve never move the row in it: an alert moved since "
    "is listed under its old state (right on the snapshot and on every single write; only a "
    "transition then a read filtered on the state shows it)",
    "GET /api/alerts",
)
def _alerts_status_filter_stale() -> list[Wrapper]:
    index = _startup_alert_statuses()
    known = max(index, default=0)
    # the index as SQL: a row created since the start is in it as created ('active')
    lookup = " ".join(f"WHEN {i} THEN '{s}'" for i, s in sorted(index.items()))
    indexed = (
        f"(CASE WHEN alerts.id > {known} THEN 'active' ELSE CASE alerts.id {lookup} END END)"
        if lookup
        else "'active'"
    )

    def fn(statement: str, params: Any) -> tuple[str, Any]:
        return statement.replace("alerts.status = ?", f"{indexed} = ?"), params

    on_sql(["GET /api/alerts"], fn)
    return []


# -- rate limits (issue 27): caught by the ratelimit phase's ladder ---------------------------
@mutant(
    "login-rate-limit-one-late",
    "edge",
    "POST /api/auth/login refuses one request late: the limit is checked with > limit + 1",
    "POST /api/auth/login",
)
def _login_rate_limit_one_late() -> list[Wrapper]:
    import backend.routers.auth as auth
    from backend.ratelimit import Limit

    limit_of = auth.login_limit

    def late() -> Limit:
        limit = limit_of()
        return Limit(limit.limit + 1, limit.window_s) if limit.limit > 0 else limit

    auth.login_limit = late  # type: ignore[assignment]
    return []


@mutant(
    "webhook-rate-window-at-first-request",
    "edge",
    "POST /api/webhooks/alerts starts a key's window at its first request instead of the "
    "clock boundary (floor(now / window) * window): Retry-After counts a whole window from then",
    "POST /api/webhooks/alerts",
)
def _webhook_rate_window_at_first_request() -> list[Wrapper]:
    import math
    import time

    from sqlalchemy import text

    import backend.ratelimit as ratelimit
    import backend.routers.webhooks as webhooks
    from backend.errors import ApiError

    def hit(session: Any, key: str, limit: Any, now_ms: float | None = None) -> None:
        if limit.limit <= 0:
            return
        moment = time.time() * 1000 if now_ms is None else now_ms
        latest = session.execute(
            text('SELECT max(window_start) FROM rate_limits WHERE "key" = :key'), {"key": key}
        ).scalar()
        start = math.floor(moment / 1000)  # a new window opens at this request
        if latest is not None and (latest + limit.window_s) * 1000 > moment:
            start = int(latest)
        session.execute(ratelimit._DELETE, {"key": key, "start": start})
        count = int(session.execute(ratelimit._UPSERT, {"key": key, "start": start}).scalar_one())
        session.commit()
        if count > limit.limit:
            retry = max(1, math.ceil(((start + limit.window_s) * 1000 - moment) / 1000))
            raise ApiError(
                "rate_limited",
                "Too many requests, retry later",
                headers={"retry-after": str(retry)},
            )

    webhooks.hit = hit  # type: ignore[assignment]
    return []


if __name__ == "__main__":
    print(markdown())
