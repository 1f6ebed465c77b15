"""The capture format: real traffic as versioned JSON Lines, one header record then one record
per exchange, so a gateway, a HAR import and the simulator all write what ``parity run
--traffic`` replays. Secrets never reach the file; callers are keyed-HMAC pseudonyms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError
from harness.setup.schema import schema_main

__all__ = [
    "FORMAT",
    "VERSION",
    "Body",
    "Capture",
    "CaptureWriter",
    "CapturedAnswer",
    "CapturedRequest",
    "Exchange",
    "Header",
    "Problem",
    "Pseudonymizer",
    "Redactor",
    "Retention",
    "TrafficError",
    "merge_captures",
    "read_capture",
]

FORMAT = "parity-capture"
VERSION = 1
REDACTED = "[redacted]"
SCHEMA_FILE = Path(__file__).resolve().parent.parent.parent / "docs" / "capture.schema.json"

# headers that carry credentials: never stored, whatever the configuration says
ALWAYS_REDACTED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
# body fields (at any depth, and query/form parameters) redacted by default
DEFAULT_SECRET_FIELDS = frozenset(
    {"password", "newpassword", "currentpassword", "secret", "token", "accesstoken", "apikey"}
)


class TrafficError(HarnessError):
    """A capture or HAR file that cannot be read as a whole: exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="input")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Body(_Model):
    """A body as sent: ``text`` when it is UTF-8, else ``base64``; never both."""

    media_type: str | None = None
    text: str | None = None
    base64: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Body:
        if self.text is not None and self.base64 is not None:
            raise ValueError("a body has either text or base64, not both")
        return self

    @classmethod
    def of(cls, content: bytes | None, media_type: str | None) -> Body | None:
        if content is None:
            return None
        try:
            return cls(media_type=media_type, text=content.decode("utf-8"))
        except UnicodeDecodeError:
            return cls(media_type=media_type, base64=base64.b64encode(content).decode("ascii"))

    def content(self) -> bytes:
        if self.base64 is not None:
            return base64.b64decode(self.base64)
        return (self.text or "").encode("utf-8")

    def decoded(self) -> Any:
        """The decoded JSON value, or None when the body is not JSON."""
        if self.text is None or "json" not in (self.media_type or "json"):
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None


Pairs = list[tuple[str, str]]


class CapturedRequest(_Model):
    method: str
    path: str = Field(description="URL path as sent, base path included, without the query")
    query: Pairs = Field(default_factory=list, description="query parameters in order")
    headers: Pairs = Field(default_factory=list)
    body: Body | None = None

    @property
    def websocket(self) -> bool:
        """A WebSocket subscription: the request asked to upgrade to one."""
        return any(
            k.lower() == "upgrade" and v.strip().lower() == "websocket" for k, v in self.headers
        )


class CapturedAnswer(_Model):
    status: int
    headers: Pairs = Field(default_factory=list)
    body: Body | None = None
    served_by: Literal["legacy", "candidate", "unknown"] = Field(
        "unknown", description="which side gave the client this answer"
    )
    messages: list[Body] | None = Field(
        None,
        description="a WebSocket subscription (the request's `Upgrade: websocket`, status 101): "
        "the frames the server sent while the caller kept it open, in order (redacted like "
        "bodies); the exchange is written when it closed, `timings` say when it opened and "
        "for how long",
    )


class Timings(_Model):
    started: datetime = Field(description="when the request reached the recorder (UTC)")
    duration_ms: float | None = None


class Header(_Model):
    """The first record of a capture."""

    kind: Literal["header"] = "header"
    format: Literal["parity-capture"] = "parity-capture"
    version: int = VERSION
    created: datetime
    snapshot: str | None = Field(
        None, description="the database snapshot the traffic starts from (a name or path)"
    )
    key_id: str | None = Field(None, description="which pseudonym key made the callers")
    source: str | None = Field(None, description="who wrote it: gateway, har, simulator, ...")
    redacted: list[str] = Field(
        default_factory=list, description="the header and field names redacted when written"
    )


class Exchange(_Model):
    """One request the client sent and the answer it got, in capture order (``seq``)."""

    kind: Literal["exchange"] = "exchange"
    seq: int = Field(ge=0)
    caller: str | None = Field(None, description="keyed HMAC of the caller's identity")
    request: CapturedRequest
    answer: CapturedAnswer | None = None
    timings: Timings


class CaptureFile(_Model):
    """The JSON Schema root: each line is a header (first) or an exchange."""

    record: Header | Exchange = Field(discriminator="kind")


def json_schema() -> str:
    schema = CaptureFile.model_json_schema()
    schema["title"] = "parity capture record (one JSON object per line)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


# -- secrets and personal data ------------------------------------------------------------


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


@dataclass(frozen=True)
class Pseudonymizer:
    """Keyed HMAC-SHA256: the same identity gives the same pseudonym under one key, and
    nobody without the key can link a pseudonym back to it (a plain hash could be guessed)."""

    key: bytes

    @classmethod
    def from_env(cls, var: str = "PARITY_TRAFFIC_KEY") -> Pseudonymizer:
        """The key from ``$PARITY_TRAFFIC_KEY``; a fresh random one (callers still stable
        within one file) when it is unset."""
        raw = os.environ.get(var)
        return cls(raw.encode("utf-8") if raw else os.urandom(32))

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"parity-key-id:" + self.key).hexdigest()[:12]

    def __call__(self, value: str) -> str:
        digest = hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return "p-" + digest[:20]


@dataclass
class Redactor:
    """Removes secrets (credential headers, password-like fields in bodies, queries and
    forms) and replaces configured personal fields by their pseudonym."""

    pseudonyms: Pseudonymizer
    secret_headers: frozenset[str] = ALWAYS_REDACTED_HEADERS
    secret_fields: frozenset[str] = DEFAULT_SECRET_FIELDS
    personal_fields: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        pseudonyms: Pseudonymizer,
        *,
        headers: Iterable[str] = (),
        fields: Iterable[str] = (),
        personal: Iterable[str] = (),
    ) -> Redactor:
        return cls(
            pseudonyms,
            ALWAYS_REDACTED_HEADERS | {h.lower() for h in headers},
            DEFAULT_SECRET_FIELDS | {_norm(f) for f in fields},
            frozenset(_norm(f) for f in personal),
        )

    @property
    def names(self) -> list[str]:
        return sorted(self.secret_headers | self.secret_fields | self.personal_fields)

    def headers(self, pairs: Iterable[tuple[str, str]]) -> Pairs:
        return [(k, REDACTED if k.lower() in self.secret_headers else v) for k, v in pairs]

    def pairs(self, pairs: Iterable[tuple[str, str]]) -> Pairs:
        return [(k, self._value(k, v)) for k, v in pairs]

    def _value(self, name: str, value: Any) -> Any:
        key = _norm(name)
        if key in self.secret_fields:
            return REDACTED
        if key in self.personal_fields and value is not None and not isinstance(value, bool):
            if isinstance(value, (dict, list)):
                return self.value(value)
            return self.pseudonyms(str(value))
        return self.value(value)

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def body(self, body: Body | None) -> Body | None:
        if body is None or body.text is None:
            return body  # binary bodies (uploads) are kept as sent
        media = (body.media_type or "").lower()
        if "json" in media or (not media and body.text[:1] in "{["):
            try:
                decoded = json.loads(body.text)
            except ValueError:
                return body
            cleaned = self.value(decoded)
            if cleaned == decoded:
                return body
            return body.model_copy(update={"text": json.dumps(cleaned, separators=(",", ":"))})
        if "x-www-form-urlencoded" in media:
            pairs = parse_qsl(body.text, keep_blank_values=True)
            return body.model_copy(update={"text": urlencode(self.pairs(pairs))})
        return body

    def exchange(self, ex: Exchange) -> Exchange:
        req = ex.request
        clean = req.model_copy(
            update={
                "query": self.pairs(req.query),
                "headers": self.headers(req.headers),
                "body": self.body(req.body),
            }
        )
        answer = ex.answer
        if answer is not None:
            update: dict[str, Any] = {
                "headers": self.headers(answer.headers),
                "body": self.body(answer.body),
            }
            if answer.messages is not None:
                update["messages"] = [self.body(m) or m for m in answer.messages]
            answer = answer.model_copy(update=update)
        return ex.model_copy(update={"request": clean, "answer": answer})


# -- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """How much a capture keeps: exchanges older than ``max_age`` and, past ``max_bytes``,
    the oldest exchanges are dropped (the header always stays)."""

    max_age: timedelta | None = None
    max_bytes: int | None = None


def _line(record: BaseModel) -> str:
    return record.model_dump_json(exclude_none=True) + "\n"


class CaptureWriter:
    """Appends exchanges to a capture, redacting each one first, and enforces the retention
    limit on open and whenever the file outgrows it. Opening an existing capture keeps its
    header (and so its snapshot and key id)."""

    def __init__(
        self,
        path: Path,
        header: Header,
        redactor: Redactor,
        retention: Retention = Retention(),
        *,
        now: datetime | None = None,
    ) -> None:
        self.path = path
        self.redactor = redactor
        self.retention = retention
        self._now = now
        if path.exists() and path.stat().st_size:
            existing = read_capture(path)
            if existing.header.key_id not in (None, header.key_id):
                raise TrafficError(
                    f"{path}: written with pseudonym key {existing.header.key_id}, "
                    f"not {header.key_id}: callers would not match; write a new file"
                )
            self.header = existing.header
            self.seq = existing.exchanges[-1].seq + 1 if existing.exchanges else 0
            self.enforce()
        else:
            self.header = header.model_copy(
                update={"redacted": redactor.names, "key_id": header.key_id}
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_line(self.header), encoding="utf-8")
            self.seq = 0
        self._out = path.open("a", encoding="utf-8")

    def write(self, ex: Exchange) -> Exchange:
        """Redact ``ex``, number it, append it; returns what was stored."""
        stored = self.redactor.exchange(ex.model_copy(update={"seq": self.seq}))
        self._out.write(_line(stored))
        self._out.flush()
        self.seq += 1
        limit = self.retention.max_bytes
        if limit is not None and self._out.tell() > limit:
            self._out.close()
            self.enforce()
            self._out = self.path.open("a", encoding="utf-8")
        return stored

    def enforce(self) -> int:
        """Apply the retention limit to the file now; returns how many exchanges it dropped."""
        text = self.path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        head, rest = lines[:1], lines[1:]
        kept = rest
        if self.retention.max_age is not None:
            cutoff = (self._now or datetime.now(UTC)) - self.retention.max_age
            kept = [
                line
                for line in kept
                if Exchange.model_validate_json(line).timings.started >= cutoff
            ]
        if self.retention.max_bytes is not None:
            budget = self.retention.max_bytes - sum(len(h.encode()) for h in head)
            size = sum(len(line.encode()) for line in kept)
            start = 0
            while start < len(kept) and size > budget:
                size -= len(kept[start].encode())
                start += 1
            kept = kept[start:]
        dropped = len(rest) - len(kept)
        if dropped:
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            tmp.write_text("".join(head + kept), encoding="utf-8")
            tmp.replace(self.path)
        return dropped

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One entry that could not be read: where (``entry``: 0-based exchange or HAR entry
    index; ``line`` when from JSON Lines) and what."""

    source: str
    entry: int | None
    what: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f" line {self.line}"
        if self.entry is not None:
            where += f" (entry {self.entry})"
        return f"{where}: {self.what}"


@dataclass
class Capture:
    header: Header
    exchanges: list[Exchange]
    problems: list[Problem] = field(default_factory=list)
    source: str = ""

    def check(self, keep_going: bool) -> Capture:
        """Without ``keep_going`` any problem is an error naming every broken entry (none
        of the valid ones is lost: they are all still read); with it, problems are warnings."""
        if self.problems and not keep_going:
            listed = "\n  ".join(str(p) for p in self.problems[:20])
            more = len(self.problems) - 20
            raise TrafficError(
                f"{self.source}: {len(self.problems)} broken entr"
                f"{'y' if len(self.problems) == 1 else 'ies'} "
                f"({len(self.exchanges)} valid):\n  {listed}"
                + (f"\n  ... and {more} more" if more > 0 else "")
                + "\n(pass --keep-going to replay the valid entries and warn about these)"
            )
        return self

    def write(self, path: Path) -> None:
        """Write as-is (already redacted records), header first."""
        with path.open("w", encoding="utf-8") as out:
            out.write(_line(self.header))
            for ex in self.exchanges:
                out.write(_line(ex))


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def iter_records(
    lines: Iterable[str], source: str
) -> Iterator[tuple[int, Header | Exchange | Problem]]:
    entry = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            if number == 1:
                yield number, Problem(source, None, f"not JSON ({exc.msg})", number)
            else:
                yield number, Problem(source, entry, f"not JSON ({exc.msg}; truncated?)", number)
                entry += 1
            continue
        kind = data.get("kind") if isinstance(data, Mapping) else None
        try:
            if kind == "header":
                yield number, Header.model_validate(data)
            else:
                yield number, Exchange.model_validate(data)
                entry += 1
        except ValidationError as exc:
            yield (
                number,
                Problem(source, entry if kind != "header" else None, _explain(exc), number),
            )
            if kind != "header":
                entry += 1


def read_capture(path: Path, *, keep_going: bool = True) -> Capture:
    """Read a capture file; every broken line is a ``Problem`` (see ``Capture.check``)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrafficError(f"{source}: cannot read: {exc}") from exc
    header: Header | None = None
    exchanges: list[Exchange] = []
    problems: list[Problem] = []
    for number, rec in iter_records(text.splitlines(), source):
        if isinstance(rec, Problem):
            if rec.entry is None and header is None and number == 1:
                raise TrafficError(f"{source}: line 1 is not a capture header: {rec.what}")
            problems.append(rec)
        elif isinstance(rec, Header):
            if header is not None:
                problems.append(Problem(source, None, "a second header record", number))
            elif rec.version > VERSION:
                raise TrafficError(
                    f"{source}: capture format version {rec.version}; this parity reads up to "
                    f"{VERSION}"
                )
            else:
                header = rec
        else:
            if header is None:
                raise TrafficError(
                    f"{source}: the first record is not a header "
                    f'{{"kind": "header", "format": "{FORMAT}", ...}}'
                )
            exchanges.append(rec)
    if header is None:
        raise TrafficError(f"{source}: empty: no capture header")
    capture = Capture(header, exchanges, problems, source)
    return capture.check(keep_going)


def merge_captures(captures: list[Capture], source: str = "") -> Capture:
    """Several captures as one, every exchange in the order it started (ties keep the files'
    order), renumbered from 0. The header stays true of every record: the oldest ``created``,
    the one pseudonym key (different keys are an error: the same caller would be two), the
    one snapshot (different snapshots are an error: the traffic starts from one database),
    the names every file redacted, the writers' ``source`` joined."""
    if not captures:
        raise TrafficError("no capture to merge")
    keys = {c.header.key_id for c in captures if c.header.key_id}
    if len(keys) > 1:
        raise TrafficError(
            f"the files use different pseudonym keys ({', '.join(sorted(keys))}): their "
            "callers cannot be merged (write every capture with the same $PARITY_TRAFFIC_KEY)"
        )
    snapshots = {c.header.snapshot for c in captures if c.header.snapshot}
    if len(snapshots) > 1:
        raise TrafficError(
            f"the files start from different snapshots ({', '.join(sorted(snapshots))}): "
            "one capture replays from one database"
        )
    redacted = set(captures[0].header.redacted)
    for c in captures[1:]:
        redacted &= set(c.header.redacted)
    sources = list(dict.fromkeys(c.header.source for c in captures if c.header.source))
    header = Header(
        created=min(c.header.created for c in captures),
        snapshot=next(iter(snapshots), None),
        key_id=next(iter(keys), None),
        source="+".join(sources) or None,
        redacted=sorted(redacted),
    )
    everything = sorted(
        ((ex, i, n) for i, c in enumerate(captures) for n, ex in enumerate(c.exchanges)),
        key=lambda t: (t[0].timings.started, t[1], t[2]),
    )
    return Capture(
        header,
        [ex.model_copy(update={"seq": n}) for n, (ex, _, _) in enumerate(everything)],
        [p for c in captures for p in c.problems],
        source or ", ".join(c.source for c in captures),
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.traffic.capture --write`` regenerates docs/capture.schema.json."""
    return schema_main(argv, SCHEMA_FILE, json_schema())


if __name__ == "__main__":
    sys.exit(main())
