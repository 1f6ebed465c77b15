"""HAR 1.2 import (browser developer tools, Playwright's ``record_har_path``, mitmproxy):
each entry becomes a capture exchange, redacted, its caller the keyed pseudonym of the user
the session belongs to (learned from the login that returned the token), never of a token."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import ValidationError

from harness.traffic.capture import (
    Body,
    Capture,
    CapturedAnswer,
    CapturedRequest,
    Exchange,
    Header,
    Problem,
    Pseudonymizer,
    Redactor,
    Timings,
    TrafficError,
    _explain,
)

__all__ = ["Identities", "import_har", "read_traffic"]

IDENTITY_FIELDS = ("email", "username", "login", "user", "name")
TOKEN_FIELDS = frozenset({"token", "accesstoken", "sessiontoken", "idtoken", "jwt"})


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _tokens_in(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, str) and _norm(str(k)) in TOKEN_FIELDS and v:
                yield v
            else:
                yield from _tokens_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _tokens_in(v)


@dataclass
class Identities:
    """Who a credential belongs to: a login body names the user (its first identity field),
    its answer the token (a JSON token field or a Set-Cookie value); later requests carrying
    that token (a bearer header or any cookie value) are that user's."""

    fields: tuple[str, ...] = IDENTITY_FIELDS
    owners: dict[str, str] = field(default_factory=dict)
    unknown: int = 0

    def learn(
        self, body: Any, answer_status: int, answer_json: Any, set_cookies: list[str]
    ) -> None:
        if not isinstance(body, Mapping) or not 200 <= answer_status < 300:
            return
        norm = {_norm(str(k)): v for k, v in body.items()}
        user = next(
            (str(norm[_norm(f)]) for f in self.fields if isinstance(norm.get(_norm(f)), str)),
            None,
        )
        if user is None:
            return
        for token in _tokens_in(answer_json):
            self.owners[token] = user
        for raw in set_cookies:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(raw)
            except CookieError:  # a malformed cookie names nobody
                continue
            for morsel in cookie.values():
                if morsel.value:
                    self.owners[morsel.value] = user

    def credentials(self, headers: Iterable[tuple[str, str]]) -> list[str]:
        found = []
        for k, v in headers:
            low = k.lower()
            if low == "authorization":
                found.append(v.split(" ", 1)[-1].strip())
            elif low == "cookie":
                for part in v.split(";"):
                    _, _, value = part.strip().partition("=")
                    if value:
                        found.append(value)
        return found

    def who(self, headers: Iterable[tuple[str, str]]) -> tuple[str | None, bool]:
        """(the identity, whether a credential was seen): None for an anonymous request or
        a token no login in the file issued."""
        creds = self.credentials(headers)
        for c in creds:
            if c in self.owners:
                return self.owners[c], True
        if creds:
            self.unknown += 1
        return None, bool(creds)


def _pairs(items: Any, what: str) -> list[tuple[str, str]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(f"{what} is not a list")
    out = []
    for n, item in enumerate(items):
        if not isinstance(item, Mapping) or "name" not in item:
            raise ValueError(f"{what}[{n}] has no name")
        out.append((str(item["name"]), str(item.get("value", ""))))
    return out


def _request_body(post: Any) -> Body | None:
    if not isinstance(post, Mapping):
        return None
    media = post.get("mimeType") or None
    if isinstance(post.get("text"), str):
        if post.get("encoding") == "base64":
            return Body.of(base64.b64decode(post["text"]), media)
        return Body(media_type=media, text=post["text"])
    params = post.get("params")
    if params:
        from urllib.parse import urlencode

        return Body(media_type=media, text=urlencode(_pairs(params, "postData.params")))
    return None


def _answer_body(content: Any) -> Body | None:
    if not isinstance(content, Mapping) or not isinstance(content.get("text"), str):
        return None
    media = content.get("mimeType") or None
    if content.get("encoding") == "base64":
        return Body.of(base64.b64decode(content["text"]), media)
    return Body(media_type=media, text=content["text"])


MAX_FRAMES = 200  # frames kept per subscription, as the simulator and the gateway keep


def _frames(messages: Any) -> list[Body]:
    """Chrome's ``_webSocketMessages``: the ``receive`` frames, in order (text as text, JSON
    marked so; binary, opcode 2, from its base64), at most ``MAX_FRAMES``."""
    out: list[Body] = []
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, Mapping) or m.get("type") != "receive":
            continue
        data = m.get("data")
        if not isinstance(data, str):
            continue
        if m.get("opcode") == 2:
            body = Body.of(base64.b64decode(data), "application/octet-stream")
        else:
            try:
                json.loads(data)
                body = Body(media_type="application/json", text=data)
            except ValueError:
                body = Body(media_type="text/plain", text=data)
        if body is not None:
            out.append(body)
        if len(out) >= MAX_FRAMES:
            break
    return out


def _started(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("startedDateTime is missing")
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _entry(raw: Any, identities: Identities, pseudonyms: Pseudonymizer, seq: int) -> Exchange:
    if not isinstance(raw, Mapping):
        raise ValueError("not an object")
    req = raw.get("request")
    if not isinstance(req, Mapping):
        raise ValueError("request is missing")
    method, url = req.get("method"), req.get("url")
    if not isinstance(method, str) or not method:
        raise ValueError("request.method is missing")
    if not isinstance(url, str) or not url:
        raise ValueError("request.url is missing")
    parts = urlsplit(url)
    if not parts.path and not parts.netloc:
        raise ValueError(f"request.url {url!r} has no path")
    headers = [
        (k, v) for k, v in _pairs(req.get("headers"), "request.headers") if not k.startswith(":")
    ]
    body = _request_body(req.get("postData"))
    res = raw.get("response")
    answer = None
    set_cookies: list[str] = []
    if isinstance(res, Mapping) and isinstance(res.get("status"), int) and res["status"] > 0:
        ans_headers = _pairs(res.get("headers"), "response.headers")
        set_cookies = [v for k, v in ans_headers if k.lower() == "set-cookie"]
        answer = CapturedAnswer(
            status=res["status"], headers=ans_headers, body=_answer_body(res.get("content"))
        )
    if raw.get("_resourceType") == "websocket" or isinstance(raw.get("_webSocketMessages"), list):
        # a subscription (Chrome's HAR): the frames the server sent, as the capture keeps them
        if not any(k.lower() == "upgrade" for k, _ in headers):
            headers.append(("Upgrade", "websocket"))
        if answer is not None:
            answer = answer.model_copy(update={"messages": _frames(raw.get("_webSocketMessages"))})
    # the request body's JSON or form, for learning who logs in
    sent: Any = None
    if body is not None:
        sent = body.decoded()
        if sent is None and body.text is not None and "form" in (body.media_type or ""):
            sent = dict(parse_qsl(body.text))
    if answer is not None:
        identities.learn(
            sent, answer.status, answer.body.decoded() if answer.body else None, set_cookies
        )
    who, _ = identities.who(headers)
    duration = raw.get("time")
    return Exchange(
        seq=seq,
        caller=pseudonyms(who) if who is not None else None,
        request=CapturedRequest(
            method=method.upper(),
            path=parts.path or "/",
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=headers,
            body=body,
        ),
        answer=answer,
        timings=Timings(
            started=_started(raw.get("startedDateTime")),
            duration_ms=float(duration)
            if isinstance(duration, (int, float)) and duration >= 0
            else None,
        ),
    )


def import_har(
    path: Path,
    redactor: Redactor,
    *,
    snapshot: str | None = None,
    identity_fields: tuple[str, ...] = IDENTITY_FIELDS,
) -> Capture:
    """Every HAR entry as a redacted exchange, in the order the client sent them; a broken
    entry is a ``Problem`` naming its index (see ``Capture.check``), the others still import."""
    source = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TrafficError(f"{source}: cannot read: {exc}") from exc
    except ValueError as exc:
        raise TrafficError(f"{source}: not JSON, so not a HAR file: {exc}") from exc
    log = doc.get("log") if isinstance(doc, Mapping) else None
    if not isinstance(log, Mapping) or not isinstance(log.get("entries"), list):
        raise TrafficError(f'{source}: not a HAR file (no "log": {{"entries": [...]}})')
    entries: list[Any] = log["entries"]
    identities = Identities(identity_fields)
    pseudonyms = redactor.pseudonyms
    problems: list[Problem] = []
    made: list[tuple[datetime, int, Exchange]] = []
    for index, raw in enumerate(entries):
        try:
            ex = _entry(raw, identities, pseudonyms, index)
        except ValidationError as exc:
            problems.append(Problem(source, index, _explain(exc)))
            continue
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(Problem(source, index, str(exc) or type(exc).__name__))
            continue
        made.append((ex.timings.started, index, ex))
    # HAR entries are usually in start order; a stable sort keeps ties as written
    made.sort(key=lambda t: (t[0], t[1]))
    exchanges = [
        redactor.exchange(ex.model_copy(update={"seq": seq})) for seq, (_, _, ex) in enumerate(made)
    ]
    created = made[0][0] if made else datetime.now(UTC)
    header = Header(
        created=created,
        snapshot=snapshot,
        key_id=pseudonyms.key_id,
        source="har",
        redacted=redactor.names,
    )
    return Capture(header, exchanges, problems, source)


def read_traffic(
    path: Path, redactor: Redactor, *, keep_going: bool = False, snapshot: str | None = None
) -> Capture:
    """A capture (JSON Lines) or a HAR file, told apart by content, checked (exit 2 on a broken
    entry unless ``keep_going``)."""
    from harness.traffic.capture import read_capture

    try:
        with path.open("rb") as fh:
            first = fh.readline(1 << 16)
    except OSError as exc:
        raise TrafficError(f"{path}: cannot read: {exc}") from exc
    if b'"kind"' in first and b'"header"' in first:
        return read_capture(path, keep_going=keep_going)
    capture = import_har(path, redactor, snapshot=snapshot)
    return capture.check(keep_going)
