"""The legacy's error body, and the exception every handler raises to produce it."""

from __future__ import annotations

from typing import Final

from backend.validation import Issue

STATUS: Final = {
    "validation_error": 400,
    "invalid_json": 400,
    "unauthorized": 401,
    "invalid_credentials": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "invalid_signature": 401,
    "idempotency_conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "internal_error": 500,
}


class ApiError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        issues: list[Issue] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.issues = issues
        self.headers = headers

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.issues is not None:
            body["issues"] = self.issues
        return body


def validation_error(issues: list[Issue]) -> ApiError:
    return ApiError("validation_error", "Invalid request", issues)


def custom_issue(path: str, message: str) -> ApiError:
    return validation_error([{"path": path, "code": "custom", "message": message}])


def not_found(resource: str) -> ApiError:
    return ApiError("not_found", f"{resource} not found")


def conflict(message: str) -> ApiError:
    return ApiError("conflict", message)


def forbidden() -> ApiError:
    return ApiError("forbidden", "Insufficient permissions")


def unauthorized() -> ApiError:
    return ApiError("unauthorized", "Authentication required")
