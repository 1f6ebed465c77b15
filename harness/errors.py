"""The harness's own failures, kept apart from findings (the services disagreeing)."""

from __future__ import annotations

__all__ = ["HarnessError", "ServiceError"]


class HarnessError(Exception):
    """parity itself, its input or its environment is broken: exit code 2, never a finding."""

    def __init__(self, message: str, *, kind: str = "harness", log_tail: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.log_tail = log_tail

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "message": self.message, "log_tail": self.log_tail}


class ServiceError(HarnessError):
    """A managed service failed to start, became unhealthy or died mid-run."""

    def __init__(self, message: str, *, log_tail: str | None = None):
        super().__init__(message, kind="service", log_tail=log_tail)
