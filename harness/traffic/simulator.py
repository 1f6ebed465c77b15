"""A traffic simulator for the shipped pair: seeded per-user scripts (admins, agents and
viewers doing their daily work) sent to a running legacy and written in the capture format.

``python -m harness.traffic.simulator --url http://127.0.0.1:3000 --seed 7 --requests 300
--out traffic.jsonl``. Which request comes next depends only on the seed and on the answers,
so on the same snapshot a seed gives the same requests on every run."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from harness.traffic.capture import (
    Body,
    CapturedAnswer,
    CapturedRequest,
    CaptureWriter,
    Exchange,
    Header,
    Pseudonymizer,
    Redactor,
    Timings,
)

__all__ = ["ALL_USERS", "USERS", "Simulator", "main"]

# the shipped seed's users (legacy/scripts/seed.ts) and what each role does
USERS: list[tuple[str, str, str]] = [
    ("admin@example.test", "parity-admin", "admin"),
    ("agent.retail@example.test", "parity-agent", "agent"),
    ("viewer.retail@example.test", "parity-viewer", "viewer"),
    ("agent.smb@example.test", "parity-agent", "agent"),
]
# every account of the shipped seed: three units' agents and viewers (``--users 7``)
ALL_USERS: list[tuple[str, str, str]] = [
    *USERS,
    ("agent.enterprise@example.test", "parity-agent", "agent"),
    ("viewer.enterprise@example.test", "parity-viewer", "viewer"),
    ("viewer.smb@example.test", "parity-viewer", "viewer"),
]
CHANNELS = ["email", "chat", "phone", "social", "web"]
STATUSES = ["open", "in_progress", "resolved", "closed"]
CATEGORIES = ["billing", "shipping", "technical", "account", "returns", "onboarding"]
PRIORITIES = ["low", "medium", "high", "urgent"]
# how often a request uses what the contract does not document (the undocumented `priority`
# filter on the case list, `Prefer: return=minimal` on a case's create or update)
PLANTED_RATE = 0.1
# how often a login opens the realtime channel (as the web client does), from a per-user
# generator apart from the script's, so that a seed's HTTP requests stay what they were
SUBSCRIBE_RATE = 0.5
REALTIME_PATH = "/api/realtime"
MAX_MESSAGES = 200  # frames recorded per subscription (an admin's sees every event)
# handshake nonces: new on every connection, so not recorded (a seed's capture stays the same)
_NONCE_HEADERS = frozenset({"sec-websocket-key", "sec-websocket-accept"})
NEXT_STATUS = {"open": "in_progress", "in_progress": "resolved", "resolved": "closed"}
_WORD = re.compile(r"[A-Za-z]{4,}")


@dataclass
class User:
    email: str
    password: str
    role: str
    rng: random.Random
    token: str | None = None
    unit: str | None = None
    cases: list[int] = field(default_factory=list)  # ids seen in answers
    mine: list[int] = field(default_factory=list)  # cases this user created
    alerts: list[int] = field(default_factory=list)
    inbox: list[int] = field(default_factory=list)
    uploads: list[int] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # words seen in the data, for search
    # the client's habits that the contract does not document (the undocumented `priority`
    # filter, `Prefer: return=minimal`), drawn apart from ``rng`` so that a seed's requests
    # stay what they were apart from them (by default seeded from ``rng``'s state, which
    # it does not advance)
    habits: random.Random | None = None
    # whether a login subscribes to the realtime channel (its own generator)
    realtime: random.Random = field(default_factory=random.Random)
    socket: Subscription | None = None  # the open realtime subscription

    def __post_init__(self) -> None:
        if self.habits is None:
            self.habits = random.Random(repr(self.rng.getstate()))

    @property
    def habit(self) -> random.Random:
        assert self.habits is not None
        return self.habits


@dataclass
class Subscription:
    """An open realtime WebSocket and what its handshake was, recorded when it closes."""

    connection: Any  # websockets.sync.client.ClientConnection
    stack: contextlib.ExitStack  # closes it
    started: datetime
    t0: float
    request_headers: list[tuple[str, str]]
    answer_headers: list[tuple[str, str]]
    messages: list[str | bytes] = field(default_factory=list)

    def drain(self) -> None:
        """The frames received so far (the connection's thread queued them)."""
        while True:
            try:
                frame = self.connection.recv(timeout=0)
            except Exception:  # TimeoutError: nothing queued; ConnectionClosed: gone
                return
            if len(self.messages) < MAX_MESSAGES:
                self.messages.append(frame)


class Simulator:
    """Interleaves the users' scripts (a seeded choice of who acts next) and records each
    exchange; the recorder sees the plain identity, the file only its keyed HMAC."""

    def __init__(
        self,
        url: str,
        writer: CaptureWriter,
        pseudonyms: Pseudonymizer,
        seed: int,
        users: list[tuple[str, str, str]] = USERS,
        session_requests: int = 100,
    ) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=30)
        self.writer = writer
        self.pseudonyms = pseudonyms
        self.rng = random.Random(seed)
        self.users = [
            User(
                e,
                p,
                r,
                random.Random(f"{seed}:{e}"),
                habits=random.Random(f"{seed}:{e}:habits"),
                realtime=random.Random(f"{seed}:{e}:realtime"),
            )
            for e, p, r in users
        ]
        self.subscribe_rate = SUBSCRIBE_RATE
        self.sent = 0
        self.subscriptions = 0  # realtime subscriptions recorded (not in ``sent``)
        self.logout_chance = 1 / max(session_requests, 1)  # a session's mean length
        # a load driver's hook: (method, path, milliseconds, response) per exchange
        self.observe: Callable[[str, str, float, httpx.Response], None] | None = None

    # -- sending and recording ---------------------------------------------------------------
    def send(
        self,
        user: User,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"accept": "application/json", **(extra_headers or {})}
        if files:  # a boundary from the script's seed: the same bytes on every run
            boundary = f"parity-{user.rng.getrandbits(64):016x}"
            headers["content-type"] = f"multipart/form-data; boundary={boundary}"
        if user.token:
            headers["authorization"] = f"Bearer {user.token}"
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        request = self.client.build_request(
            method, path, params=params, json=json_body, files=files, headers=headers
        )
        request.read()  # a multipart body is a stream until read
        resp = self.client.send(request)
        elapsed = (time.perf_counter() - t0) * 1000
        media = request.headers.get("content-type")
        self.writer.write(
            Exchange(
                seq=0,
                caller=self.pseudonyms(user.email) if user.token or json_body else None,
                request=CapturedRequest(
                    method=method,
                    path=request.url.path,
                    query=list(request.url.params.multi_items()),
                    headers=list(request.headers.multi_items()),
                    body=Body.of(request.content or None, media),
                ),
                answer=CapturedAnswer(
                    status=resp.status_code,
                    headers=list(resp.headers.multi_items()),
                    body=Body.of(resp.content or None, resp.headers.get("content-type")),
                    served_by="legacy",
                ),
                timings=Timings(started=started, duration_ms=round(elapsed, 2)),
            )
        )
        self.sent += 1
        if self.observe is not None:
            self.observe(method, path, elapsed, resp)
        return resp

    @staticmethod
    def _prefer(user: User) -> dict[str, str]:
        """Now and then a client that does not need the written case back asks for none
        (RFC 7240; the contract does not document it): the answer is a 204."""
        return {"prefer": "return=minimal"} if user.habit.random() < PLANTED_RATE else {}

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        try:
            return resp.json()
        except ValueError:
            return None

    # -- the realtime channel ----------------------------------------------------------------
    def subscribe(self, user: User) -> None:
        """Open the realtime channel as the web client does after a login (Bearer header) and
        wait for its ``ready`` frame; it stays open while the user works and is recorded when
        it closes (``unsubscribe``). A refused handshake is recorded at once."""
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        url = str(self.client.base_url).replace("http", "ws", 1).rstrip("/") + REALTIME_PATH
        headers = {"authorization": f"Bearer {user.token}"} if user.token else {}
        started, t0 = datetime.now(UTC), time.perf_counter()
        stack = contextlib.ExitStack()  # connect() as a context manager, closed on unsubscribe
        try:
            ws = stack.enter_context(
                connect(
                    url, additional_headers=headers, open_timeout=10, proxy=None, max_queue=None
                )
            )
        except InvalidStatus as exc:
            sent = [("upgrade", "websocket"), ("connection", "Upgrade"), *headers.items()]
            resp = exc.response
            body = Body.of(bytes(resp.body or b"") or None, resp.headers.get("content-type"))
            answer = CapturedAnswer(
                status=resp.status_code,
                headers=list(resp.headers.raw_items()),
                body=body,
                served_by="legacy",
            )
            self._record_subscription(user, sent, answer, started, t0)
            return
        sent_headers = ws.request.headers.raw_items() if ws.request is not None else []
        got_headers = ws.response.headers.raw_items() if ws.response is not None else []
        sub = Subscription(
            ws,
            stack,
            started,
            t0,
            [(k, v) for k, v in sent_headers if k.lower() not in _NONCE_HEADERS],
            [(k, v) for k, v in got_headers if k.lower() not in _NONCE_HEADERS],
        )
        # its first frame: ready (or the refusal, then a close); closed or silent, it is
        # recorded as it is
        with contextlib.suppress(Exception):
            sub.messages.append(ws.recv(timeout=10))
        user.socket = sub

    def unsubscribe(self, user: User) -> None:
        sub, user.socket = user.socket, None
        if sub is None:
            return
        sub.drain()
        sub.stack.close()
        messages = [
            Body.of(m.encode(), "application/json")
            if isinstance(m, str)
            else Body.of(bytes(m), "application/octet-stream")
            for m in sub.messages
        ]
        answer = CapturedAnswer(
            status=101,
            headers=sub.answer_headers,
            served_by="legacy",
            messages=[m for m in messages if m is not None],
        )
        self._record_subscription(user, sub.request_headers, answer, sub.started, sub.t0)

    def _record_subscription(
        self,
        user: User,
        headers: list[tuple[str, str]],
        answer: CapturedAnswer,
        started: datetime,
        t0: float,
    ) -> None:
        """One exchange for a subscription, written when it ended (``timings``: when it opened
        and how long it was open). Not counted in ``sent``: ``--requests`` counts HTTP
        requests, so a seed's requests are the same with or without subscriptions."""
        self.writer.write(
            Exchange(
                seq=0,
                caller=self.pseudonyms(user.email),
                request=CapturedRequest(method="GET", path=REALTIME_PATH, headers=headers),
                answer=answer,
                timings=Timings(
                    started=started, duration_ms=round((time.perf_counter() - t0) * 1000, 2)
                ),
            )
        )
        self.subscriptions += 1

    def close(self) -> None:
        """Close (and record) every open subscription."""
        for user in self.users:
            self.unsubscribe(user)

    # -- what users do -----------------------------------------------------------------------
    def login(self, user: User) -> None:
        resp = self.send(
            user,
            "POST",
            "/api/auth/login",
            json_body={"email": user.email, "password": user.password},
        )
        body = self._json(resp)
        if resp.status_code == 200 and isinstance(body, dict):
            user.token = body.get("token")
            me = self._json(self.send(user, "GET", "/api/auth/me"))
            if isinstance(me, dict):
                user.unit = (me.get("user") or me).get("businessUnit")
            if user.socket is None and user.realtime.random() < self.subscribe_rate:
                self.subscribe(user)

    def list_cases(self, user: User) -> None:
        r = user.rng
        params: list[tuple[str, str]] = []
        for name, values in (("status", STATUSES), ("channel", CHANNELS), ("category", CATEGORIES)):
            if r.random() < 0.35:
                params.append((name, r.choice(values)))
        if r.random() < 0.4:
            params.append(("sort", r.choice(["createdAt", "-createdAt", "priority", "-updatedAt"])))
        params.append(("pageSize", str(r.choice([10, 20, 50]))))
        if r.random() < 0.2:
            params.append(("page", "2"))
        if user.habit.random() < PLANTED_RATE:  # a filter the contract does not document
            params.append(("priority", user.habit.choice(PRIORITIES)))
        body = self._json(self.send(user, "GET", "/api/cases", params=params))
        if isinstance(body, dict):
            for item in body.get("data") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), int):
                    user.cases.append(item["id"])
                    user.words.extend(_WORD.findall(str(item.get("title", "")))[:2])
        user.cases = user.cases[-60:]
        user.words = user.words[-40:]

    def open_case(self, user: User) -> None:
        if not user.cases:
            return self.list_cases(user)
        case = user.rng.choice(user.cases)
        self.send(user, "GET", f"/api/cases/{case}")
        if user.rng.random() < 0.5:
            self.send(user, "GET", f"/api/cases/{case}/chat", params=[("limit", "20")])
        return None

    def search(self, user: User) -> None:
        word = user.rng.choice(user.words) if user.words else user.rng.choice(CATEGORIES)
        params = [("q", word.lower())]
        if user.rng.random() < 0.4:
            params.append(("scope", user.rng.choice(["cases", "alerts", "feed"])))
        self.send(user, "GET", "/api/search", params=params)

    def create_case(self, user: User) -> None:
        r = user.rng
        body = {
            "title": f"{r.choice(['Refund', 'Login', 'Parcel', 'Invoice'])} issue "
            f"{r.choice(user.words or ['reported'])}",
            "channel": r.choice(CHANNELS),
            "category": r.choice(CATEGORIES),
            "priority": r.choice(PRIORITIES),
            "customerName": r.choice(["Ana", "Bo", "Cy"]) + " " + r.choice(["Lee", "Ng", "Ruiz"]),
        }
        if user.unit and r.random() < 0.5:
            body["businessUnit"] = user.unit
        if r.random() < 0.1:
            del body["title"]  # a realistic mistake: 400
        created = self._json(
            self.send(user, "POST", "/api/cases", json_body=body, extra_headers=self._prefer(user))
        )
        if isinstance(created, dict) and isinstance(created.get("id"), int):
            user.mine.append(created["id"])
            user.cases.append(created["id"])

    def work_case(self, user: User) -> None:
        pool = user.mine or user.cases
        if not pool:
            return self.create_case(user)
        case = user.rng.choice(pool)
        current = self._json(self.send(user, "GET", f"/api/cases/{case}"))
        if not isinstance(current, dict) or "status" not in current:
            return None
        choice = user.rng.random()
        if choice < 0.5:
            status = NEXT_STATUS.get(str(current["status"]), "open")
            self.send(
                user,
                "PATCH",
                f"/api/cases/{case}",
                json_body={"status": status},
                extra_headers=self._prefer(user),
            )
        elif choice < 0.75:
            self.send(
                user,
                "POST",
                f"/api/cases/{case}/chat",
                json_body={
                    "body": f"Called the customer about {user.rng.choice(user.words or ['it'])}"
                },
            )
        else:
            self.send(user, "POST", f"/api/cases/{case}/assign", json_body={"assigneeId": None})
        return None

    def share(self, user: User) -> None:
        if not user.cases:
            return None
        # an escalation is mostly of a case the user is working on, so a case gets shared
        # with a second colleague too
        pool = user.mine if user.mine and user.rng.random() < 0.5 else user.cases
        case = user.rng.choice(pool)
        to = user.rng.choice([u.email for u in self.users if u is not user])
        self.send(
            user, "POST", "/api/shares", json_body={"caseId": case, "sharedWith": to, "note": "fyi"}
        )
        self.send(user, "GET", f"/api/cases/{case}/shares")
        return None

    def upload(self, user: User) -> None:
        r = user.rng
        out = io.StringIO()
        writer = csv.writer(out)
        header = ["title", "channel", "category", "customerName", "priority"]
        if r.random() < 0.15:
            header.remove("customerName")  # a missing column: the whole file is refused
        writer.writerow(header)
        for n in range(r.randint(1, 6)):
            row = {
                "title": f"Imported {r.choice(user.words or ['case'])} {n}",
                "channel": r.choice(CHANNELS + (["fax"] if r.random() < 0.2 else [])),
                "category": r.choice(CATEGORIES),
                "customerName": r.choice(["Eve Ortiz", "Fay Kim", ""]),
                "priority": r.choice(PRIORITIES),
            }
            writer.writerow([row[h] for h in header])
        data = out.getvalue().encode()
        resp = self.send(
            user, "POST", "/api/upload", files={"file": ("cases.csv", data, "text/csv")}
        )
        body = self._json(resp)
        if isinstance(body, dict) and isinstance(body.get("id"), int):
            user.uploads.append(body["id"])
        self.send(user, "GET", "/api/uploads")

    def alerts(self, user: User) -> None:
        params = [("limit", "20")]
        if user.rng.random() < 0.5:
            params.append(("severity", user.rng.choice(["info", "warning", "critical"])))
        body = self._json(self.send(user, "GET", "/api/alerts", params=params))
        if isinstance(body, dict):
            user.alerts = [
                a["id"] for a in body.get("data") or [] if isinstance(a, dict) and "id" in a
            ]
        if user.alerts and user.role != "viewer" and user.rng.random() < 0.5:
            alert = user.rng.choice(user.alerts)
            action = "acknowledge" if user.rng.random() < 0.6 else "resolve"
            self.send(user, "POST", f"/api/alerts/{alert}/{action}")
        elif user.rng.random() < 0.5:
            self.send(user, "GET", "/api/alerts/count")

    def inbox(self, user: User) -> None:
        body = self._json(self.send(user, "GET", "/api/inbox"))
        items = body.get("data") if isinstance(body, dict) else body
        if isinstance(items, list):
            user.inbox = [i["id"] for i in items if isinstance(i, dict) and "id" in i]
        if user.inbox and user.rng.random() < 0.6:
            self.send(user, "POST", f"/api/inbox/{user.rng.choice(user.inbox)}/read")

    def export(self, user: User) -> None:
        params = [
            ("resource", user.rng.choice(["cases", "alerts"])),
            ("format", user.rng.choice(["csv", "json"])),
        ]
        if user.rng.random() < 0.5:
            params.append(("status", user.rng.choice(STATUSES)))
        self.send(user, "GET", "/api/export", params=params)

    def browse(self, user: User) -> None:
        path, params = user.rng.choice(
            [
                ("/api/feed", [("limit", "10")]),
                ("/api/trending", [("limit", "5")]),
                ("/api/events", [("limit", "20")]),
                ("/api/pulse", []),
                ("/api/search/analytics", [("days", "30")]),
            ]
        )
        self.send(user, "GET", path, params=params)

    def admin_only(self, user: User) -> None:
        if user.mine and user.rng.random() < 0.5:
            case = user.mine.pop(user.rng.randrange(len(user.mine)))
            self.send(user, "DELETE", f"/api/cases/{case}")
            user.cases = [c for c in user.cases if c != case]
        else:
            self.send(user, "POST", "/api/feed/cleanup")

    def analytics(self, user: User) -> None:
        """An admin's look at what people search for, and what finds nothing."""
        self.send(user, "GET", "/api/search/analytics", params=[("days", "7")])

    def actions(self, user: User) -> list[tuple[float, Callable[[User], None]]]:
        reads: list[tuple[float, Callable[[User], None]]] = [
            (5, self.list_cases),
            (4, self.open_case),
            (3, self.search),
            (2, self.alerts),
            (1.5, self.inbox),
            (1, self.export),
            (1.5, self.browse),
        ]
        if user.role == "viewer":
            return [*reads, (0.3, self.create_case)]  # a viewer's write: 403
        work = [(3, self.work_case), (1.5, self.create_case), (1, self.share), (1, self.upload)]
        if user.role == "admin":
            work.append((0.8, self.admin_only))
            work.append((0.8, self.analytics))
        return reads + work

    def step(self, user: User) -> None:
        """One thing ``user`` does next: log in, or one of its role's actions (then, now and
        then, log out). A load driver (Locust) calls it per user; ``run`` interleaves."""
        if user.token is None:
            self.login(user)
            return
        acts = self.actions(user)
        act = user.rng.choices([a for _, a in acts], weights=[w for w, _ in acts])[0]
        act(user)
        if user.rng.random() < self.logout_chance:
            self.unsubscribe(user)  # the client closes its channel, then logs out
            self.send(user, "POST", "/api/auth/logout")
            user.token = None

    def run(self, requests: int) -> int:
        try:
            while self.sent < requests:
                self.step(self.rng.choice(self.users))
        finally:
            self.close()
        return self.sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.traffic.simulator", description=__doc__
    )
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the running legacy")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--snapshot", default="seed 42", help="what the legacy's database is")
    parser.add_argument(
        "--users",
        type=int,
        default=len(USERS),
        help=f"how many of the seed's {len(ALL_USERS)} accounts act (default {len(USERS)})",
    )
    parser.add_argument(
        "--session-requests",
        type=int,
        default=100,
        help="a session's mean length in actions before its user logs out (default 100)",
    )
    parser.add_argument(
        "--subscribe-rate",
        type=float,
        default=SUBSCRIBE_RATE,
        help="share of logins that open the realtime channel, recorded when it closes "
        f"(default {SUBSCRIBE_RATE}; 0: none)",
    )
    args = parser.parse_args(argv)
    pseudonyms = Pseudonymizer.from_env()
    header = Header(
        created=datetime.now(UTC),
        snapshot=args.snapshot,
        key_id=pseudonyms.key_id,
        source="simulator",
    )
    if args.out.exists():
        args.out.unlink()
    with CaptureWriter(args.out, header, Redactor.build(pseudonyms), retention_default()) as writer:
        users = ALL_USERS[: max(1, min(args.users, len(ALL_USERS)))]
        sim = Simulator(args.url, writer, pseudonyms, args.seed, users, args.session_requests)
        sim.subscribe_rate = args.subscribe_rate
        try:
            sent = sim.run(args.requests)
        except httpx.HTTPError as exc:
            print(f"simulator: error: {args.url}: {exc}", file=sys.stderr)
            return 2
    print(json.dumps({"out": str(args.out), "requests": sent, "subscriptions": sim.subscriptions}))
    return 0


def retention_default() -> Any:
    from harness.traffic.capture import Retention

    return Retention(max_age=timedelta(days=30))


if __name__ == "__main__":
    sys.exit(main())
