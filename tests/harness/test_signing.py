"""Request signing (issue 27): ``[auth.signing]`` signs the exact bytes the transport sends.
Two real HTTP receivers on 127.0.0.1 check the signature, one over the raw body as a
webhook must, one over the body re-serialized from its JSON (a port's classic mistake):
parity's signed request passes the first and fails the second, so the two disagree."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from harness.errors import HarnessError
from harness.models import NOT_SET, PreparedRequest
from harness.pair.transport import Target, Transport
from harness.setup.signing import Signer, SigningConfig

SECRET = "s3cret-for-tests"
CONFIG = SigningConfig(
    operations=["POST /hooks/*"],
    secret_env="HOOK_SECRET",
    signature_header="X-Signature",
    timestamp_header="X-Timestamp",
    message="{timestamp}.{body}",
    signature="sha256={hex}",
)
# not the bytes json.dumps would write: spacing, key order and an escaped character
RAW = b'{"b": 2,  "a":"caf\\u00e9"}'


def _receiver(reserialize: bool = False, replays: bool = True) -> type[BaseHTTPRequestHandler]:
    """A webhook receiver: HMAC over the raw body (or, ``reserialize``, over the body
    re-serialized), a five-minute window and (``replays``) each signature accepted once."""
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            if reserialize:
                raw = json.dumps(json.loads(raw)).encode()
            stamp = self.headers.get("x-timestamp", "")
            signature = self.headers.get("x-signature", "")
            mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256)
            ok = hmac.compare_digest("sha256=" + mac.hexdigest(), signature)
            fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300
            replayed = replays and signature in seen
            seen.add(signature)
            self.send_response(200 if ok and fresh and not replayed else 401)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receivers() -> Iterator[tuple[str, str]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _receiver(r)) for r in (False, True)]
    yield from _serve(servers)


@pytest.fixture
def replay_blind() -> Iterator[tuple[str, str]]:
    """A correct receiver and one that accepts a signature any number of times."""
    handlers = (_receiver(), _receiver(replays=False))
    yield from _serve([ThreadingHTTPServer(("127.0.0.1", 0), h) for h in handlers])


def _serve(servers: list[ThreadingHTTPServer]) -> Iterator[tuple[str, str]]:
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        a, b = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
        yield a, b
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def _request(
    operation: str, path: str, headers: tuple[tuple[str, str], ...] = ()
) -> PreparedRequest:
    return PreparedRequest(
        operation=operation,
        method="POST",
        path=path,
        query=(),
        headers=(("content-type", "application/json"), *headers),
        content=RAW,
        body=NOT_SET,
        media_type="application/json",
        role=None,
        mode="positive",
    )


def test_the_raw_bytes_are_signed_so_a_reserializing_receiver_disagrees(
    receivers: tuple[str, str],
) -> None:
    raw_ok, reserialized = receivers
    signer = Signer(CONFIG, {"HOOK_SECRET": SECRET})
    transport = Transport(
        Target("legacy", raw_ok), Target("candidate", reserialized), timeout_s=10, signer=signer
    )
    try:
        legacy, candidate = transport.send_pair(_request("POST /hooks/{name}", "/hooks/alerts"))
        assert (legacy.status, candidate.status) == (200, 401)
        # an operation that is not signed goes out without a signature: both refuse it
        legacy, candidate = transport.send_pair(_request("POST /other", "/other"))
        assert (legacy.status, candidate.status) == (401, 401)
        # a case that carries its own (bad) signature keeps it: a negative case stays negative
        bad = _request("POST /hooks/{name}", "/hooks/alerts", (("X-Signature", "sha256=00"),))
        legacy, _ = transport.send_pair(bad)
        assert legacy.status == 401
    finally:
        transport.close()


def test_the_signature_is_the_hmac_of_the_message_template() -> None:
    signer = Signer(CONFIG, {"HOOK_SECRET": SECRET})
    headers = dict(signer.headers("POST", "/hooks/alerts", RAW, now=1_700_000_000))
    assert headers["X-Timestamp"] == "1700000000"
    mac = hmac.new(SECRET.encode(), b"1700000000." + RAW, hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == f"sha256={mac}"


def test_a_missing_secret_or_a_template_without_the_body_is_a_clear_error() -> None:
    with pytest.raises(HarnessError, match="HOOK_SECRET"):
        Signer(CONFIG, {})
    with pytest.raises(ValidationError, match="body"):
        SigningConfig(operations=["*"], secret_env="X", message="{timestamp}")


def test_negative_cases_are_refused_and_a_missing_replay_check_disagrees(
    replay_blind: tuple[str, str],
) -> None:
    correct, blind = replay_blind
    signer = Signer(CONFIG, {"HOOK_SECRET": SECRET})
    transport = Transport(
        Target("legacy", correct), Target("candidate", blind), timeout_s=10, signer=signer
    )
    try:
        cases = dict(signer.negative_cases(_request("POST /hooks/{name}", "/hooks/alerts")))
        assert set(cases) == {"bad signature", "stale timestamp", "replayed signature"}
        for name in ("bad signature", "stale timestamp"):
            legacy, candidate = transport.send_pair(cases[name])
            assert (legacy.status, candidate.status) == (401, 401), name
        replay = cases["replayed signature"]
        first = transport.send_pair(replay)
        again = transport.send_pair(replay)
        assert [r.status for r in first] == [200, 200]
        assert [r.status for r in again] == [401, 200]  # the blind receiver takes it twice
    finally:
        transport.close()
