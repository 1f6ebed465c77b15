"""Request signing (``[auth.signing]``): an HMAC over the exact bytes the transport sends and
a timestamp, as webhook senders sign (Stripe, GitHub, Slack). The signature is computed at
send time from ``PreparedRequest.content``, the bytes httpx puts on the wire, so a service
that checks it over re-serialized JSON instead of the raw body disagrees with one that
does it right.

```toml
[auth.signing]
operations = ["POST /api/webhooks/*"]
secret_env = "WEBHOOK_SECRET"
signature_header = "X-Signature"
timestamp_header = "X-Signature-Timestamp"
message = "{timestamp}.{body}"      # what is signed: the timestamp, a dot, the raw body
signature = "sha256={hex}"          # how the header writes the digest ({hex} or {base64})
```
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import os
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.errors import HarnessError
from harness.models import PreparedRequest
from harness.setup.contract import match_operation

__all__ = ["Signer", "SigningConfig"]


class SigningConfig(BaseModel):
    """How requests to the signed operations are signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operations: list[str] = Field(description="operations (globs) whose requests are signed")
    algorithm: Literal["sha256", "sha1", "sha512"] = Field("sha256", description="HMAC hash")
    secret_env: str = Field(description="environment variable holding the shared secret")
    signature_header: str = Field("X-Signature", description="header carrying the signature")
    timestamp_header: str | None = Field(
        "X-Signature-Timestamp",
        description="header carrying the Unix time signed with the body (none: body only)",
    )
    message: str = Field(
        "{timestamp}.{body}",
        description="the signed bytes: {timestamp}, {method}, {path} and {body} (the raw "
        "body bytes as sent)",
    )
    signature: str = Field(
        "{hex}", description='the header value: "{hex}", "sha256={hex}", "{base64}"'
    )

    window_s: int = Field(
        300,
        description="the replay window the services enforce: a stale-timestamp case is "
        "signed this long ago plus a minute",
    )

    @field_validator("message")
    @classmethod
    def _has_body(cls, value: str) -> str:
        if "{body}" not in value:
            raise ValueError("the signed message must contain {body}")
        return value

    @field_validator("signature")
    @classmethod
    def _has_digest(cls, value: str) -> str:
        if "{hex}" not in value and "{base64}" not in value:
            raise ValueError("the signature must contain {hex} or {base64}")
        return value


class Signer:
    """Signs requests of the configured operations; the secret is read once, at start."""

    def __init__(self, config: SigningConfig, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        secret = env.get(config.secret_env)
        if not secret:
            raise HarnessError(
                f"[auth.signing] secret_env: the environment variable {config.secret_env} is "
                "not set (the shared secret both services check signatures with)",
                kind="input",
            )
        self.config = config
        self._secret = secret.encode()

    def applies(self, operation: str) -> bool:
        """``operation`` may carry a probe's label ("POST /hooks [key replayed]")."""
        bare = operation.split(" [", 1)[0]
        return any(match_operation(glob, bare) for glob in self.config.operations)

    def digest(self, message: bytes) -> str:
        mac = hmac.new(self._secret, message, self.config.algorithm).digest()
        return self.config.signature.replace("{hex}", mac.hex()).replace(
            "{base64}", base64.b64encode(mac).decode()
        )

    def message(self, method: str, path: str, body: bytes, timestamp: str) -> bytes:
        """The signed bytes: the template's text around the raw body, never re-encoded."""
        before, _, after = self.config.message.partition("{body}")

        def fill(text: str) -> bytes:
            return (
                text.replace("{timestamp}", timestamp)
                .replace("{method}", method)
                .replace("{path}", path)
                .encode()
            )

        return fill(before) + body + fill(after)

    def headers(
        self, method: str, path: str, body: bytes | None, now: float | None = None
    ) -> list[tuple[str, str]]:
        """The signature (and timestamp) headers for these exact body bytes."""
        timestamp = str(int(time.time() if now is None else now))
        signed = self.digest(self.message(method, path, body or b"", timestamp))
        out = [(self.config.signature_header, signed)]
        if self.config.timestamp_header:
            out.append((self.config.timestamp_header, timestamp))
        return out

    def signed(self, req: PreparedRequest, now: float | None = None) -> PreparedRequest:
        """``req`` with its signature headers fixed now (sent twice, a replay)."""
        extra = self.headers(req.method, req.path, req.content, now)
        return dataclasses.replace(req, headers=(*req.headers, *extra))

    def negative_cases(
        self, req: PreparedRequest, now: float | None = None
    ) -> list[tuple[str, PreparedRequest]]:
        """What a signed endpoint must refuse: a signature over other bytes, a correct
        signature with a timestamp outside the replay window, and (the same request sent
        twice) a replayed signature; each as a request that carries its own headers."""
        at = time.time() if now is None else now
        body = req.content or b""
        bad = dataclasses.replace(
            req,
            headers=(*req.headers, *self.headers(req.method, req.path, body + b" ", at)),
            mode="negative",
        )
        stale_at = at - self.config.window_s - 60
        stale = dataclasses.replace(self.signed(req, stale_at), mode="negative")
        return [
            ("bad signature", bad),
            ("stale timestamp", stale),
            ("replayed signature", self.signed(req, at)),
        ]
