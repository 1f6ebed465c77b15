"""``parity gateway --config parity.toml [--listen HOST:PORT]``: start the compare worker,
serve with uvicorn (uvloop + httptools) until SIGTERM, drain, write the results, exit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from harness.errors import HarnessError
from harness.gateway import admin
from harness.gateway.app import GatewayApp
from harness.gateway.instance import capture_path, check_name, instance_name
from harness.gateway.instance import results_dir as instance_results
from harness.gateway.routes import RouteTable
from harness.gateway.shift import Shifter, build_shifter
from harness.gateway.worker import run_worker
from harness.gateway.writes import WriteCounters
from harness.proc.reaper import REAPER
from harness.setup.config import ParityConfig, load_config
from harness.setup.contract import load_contract

__all__ = ["main", "serve"]


def _hostport(text: str, what: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise HarnessError(f"{what}: {text!r} is not HOST:PORT", kind="input")
    return host, int(port)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parity gateway", description=__doc__)
    p.add_argument("--config", type=Path, default=Path("parity.toml"))
    p.add_argument("--listen", help="HOST:PORT (default: [gateway] listen)")
    p.add_argument("--legacy-url", help="the legacy's base URL (default: [gateway] legacy)")
    p.add_argument("--candidate-url", help="the port's base URL (default: [gateway] candidate)")
    p.add_argument("--results", type=Path, help="directory for results.json")
    p.add_argument("--capture", type=Path, help="capture file (default: [gateway] capture)")
    p.add_argument(
        "--instance",
        help='this gateway\'s name among several ([gateway] instance; "auto": host-pid): '
        "it goes into the results directory and the capture file's name",
    )
    p.add_argument(
        "--mode",
        choices=["legacy", "shadow", "canary", "port"],
        help="every route in this mode (overrides routes; canary: --percent of callers)",
    )
    p.add_argument(
        "--compare-only",
        action="store_true",
        help="a sink for another proxy's mirrored requests: compare, capture, serve nobody",
    )
    p.add_argument("--percent", type=float, default=50.0, help="--mode canary: the share")
    p.add_argument("--quiet", action="store_true", help="no per-request log lines")
    return p


REPLIES_EVERY_S = 0.05


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("{"):
            return msg
        return json.dumps({"level": record.levelname.lower(), "message": msg})


def _shifter(config: ParityConfig, gw: Any, args: argparse.Namespace) -> Shifter | None:
    """Canary and port routes (``[gateway.shift]``); ``--mode canary|port``: every request."""
    if not gw.candidate or gw.compare_only:
        return None  # compare-only serves nobody: no route is shifted
    if args.mode in ("canary", "port"):
        percent = args.percent if args.mode == "canary" else None
        return build_shifter(gw, config.resolve, everything=(args.mode, percent))
    return build_shifter(gw, config.resolve)


def serve(config: ParityConfig, args: argparse.Namespace) -> int:
    gw = config.gateway
    updates: dict[str, Any] = {}
    if args.listen:
        updates["listen"] = args.listen
    if args.legacy_url:
        updates["legacy"] = args.legacy_url
    if args.candidate_url:
        updates["candidate"] = args.candidate_url
    if args.mode:
        updates["default_mode"] = "shadow" if args.mode in ("canary", "port") else args.mode
        updates["routes"] = {}
    if args.compare_only:
        updates["compare_only"] = True
    if args.capture:
        updates["capture"] = str(args.capture.resolve())
    if args.instance:
        updates["instance"] = check_name(args.instance)
    gw = gw.model_copy(update=updates)
    name = instance_name(gw)
    if gw.capture:  # each instance its own capture file, beside the configured one
        capture = capture_path(config.resolve(gw.capture), name)
        gw = gw.model_copy(update={"capture": str(capture)})
    gw = gw.model_copy(update={"instance": name})
    if not gw.legacy:
        raise HarnessError("[gateway] legacy (or --legacy-url) is required", kind="input")
    modes = [r if isinstance(r, str) else r.mode for r in gw.routes.values()]
    if any(m != "legacy" for m in (gw.default_mode, *modes)) and not gw.candidate:
        raise HarnessError(
            "shadow routes need [gateway] candidate (or --candidate-url)", kind="input"
        )
    if gw.compare_only and not gw.candidate:
        raise HarnessError(
            "compare-only needs [gateway] candidate (or --candidate-url): it compares the "
            "legacy's answers with the port's",
            kind="input",
        )
    if gw.compare_only and args.mode in ("canary", "port"):
        raise HarnessError(
            f"--mode {args.mode} serves clients from the port; --compare-only serves nobody",
            kind="input",
        )
    host, port = _hostport(gw.listen, "--listen")
    for host_ in (
        host,
        *([_hostport(gw.admin_listen, "admin_listen")[0]] if gw.admin_listen else []),
    ):
        if host_ not in ("127.0.0.1", "localhost", "::1"):
            raise HarnessError(f"the gateway binds loopback only here, not {host_}", kind="input")
    contract = None
    if config.contract:
        contract = load_contract(config.resolve(config.contract), config.overlay_paths())
    table = RouteTable(gw, contract, config.base_path or "")
    results_dir = instance_results(args.results or config.resolve(gw.results), name)
    results_dir.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    jobs: Any = ctx.Queue(maxsize=gw.queue)
    replies: Any = ctx.Queue(maxsize=10_000)
    shared = config.resolve(gw.shared_writes) if gw.shared_writes else None
    counters = WriteCounters(shared)
    worker = ctx.Process(
        target=run_worker,
        args=(config.model_copy(update={"gateway": gw}), jobs, replies, counters, str(results_dir)),
        name="parity-gateway-worker",
        daemon=True,
    )
    # ignored before the spawn: a SIGTERM to the group while the worker still imports would
    # kill it before it can ignore the signal itself (an exec keeps SIG_IGN)
    saved = [signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)]
    try:
        worker.start()
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])
    assert worker.pid is not None
    REAPER.process(worker.pid)

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines carry no correlation id
    for h in logging.getLogger().handlers:
        h.setFormatter(_JsonFormatter())
    app = GatewayApp(
        gw,
        table,
        jobs,
        counters,
        capture=bool(gw.capture),
        admin_separate=bool(gw.admin_listen),
        shifter=_shifter(config, gw, args),
    )

    async def run() -> None:
        servers = [_server(app, host, port, gw.drain_s)]
        if gw.admin_listen:
            ahost, aport = _hostport(gw.admin_listen, "admin_listen")
            servers.append(_server(app.admin, ahost, aport, gw.drain_s, lifespan="off"))
        loop = asyncio.get_running_loop()

        def ending() -> None:  # first signal: drain; second: stop now
            for s in servers:
                s.force_exit = s.should_exit
                s.should_exit = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, ending)
        stop = asyncio.create_task(_replies(replies, app))
        try:
            await asyncio.gather(*(s.serve() for s in servers))
        finally:
            stop.cancel()

    try:
        # uvicorn's loop="uvloop" applies only in uvicorn.run(); Server.serve() runs on the
        # loop it is given, so the uvloop loop is made here
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run())
    finally:
        with contextlib.suppress(Exception):
            jobs.put(None, timeout=5)
        worker.join(timeout=max(30.0, gw.drain_s * 3))
        if worker.is_alive():
            worker.kill()
            worker.join(5)
        REAPER.forget(worker.pid)
    print(
        json.dumps({"event": "stopped", "results": str(results_dir / "results.json")}),
        file=sys.stderr,
        flush=True,
    )
    return 0


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal it caught after shutting down (the process would die
    before the worker writes the results): the gateway handles SIGTERM itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, host: str, port: int, drain_s: float, lifespan: str = "on") -> uvicorn.Server:
    cfg = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan=lifespan,  # type: ignore[arg-type]
        access_log=False,
        proxy_headers=False,  # the gateway adds X-Forwarded-For itself, never trusts one
        log_level="warning",
        timeout_graceful_shutdown=max(int(drain_s), 1),
        ws="websockets-sansio",
    )
    return _Server(cfg)


async def _replies(replies: Any, app: GatewayApp) -> None:
    """Comparison outcomes from the worker into the metrics (read in a thread: mp queues
    block), a batch at most every ``REPLIES_EVERY_S``: one hand-off to the thread per reply
    took the serving loop's time under load."""
    loop = asyncio.get_running_loop()
    while True:
        batch = await loop.run_in_executor(None, _drain, replies)
        for reply in batch:
            app.metrics.comparisons.labels(reply["route"], reply["result"].split(":")[0]).inc()
            app.compared(reply["route"], reply["result"])
        await asyncio.sleep(REPLIES_EVERY_S)


def _drain(replies: Any) -> list[dict[str, Any]]:
    import queue

    out = []
    try:
        out.append(replies.get(timeout=0.5))
        while len(out) < 1000:
            out.append(replies.get_nowait())
    except queue.Empty:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] in ("shift", "promote", "routes"):
        return admin.main(argv)
    if argv and argv[0] == "merge":
        from harness.gateway.merge import main as merge_main

        return merge_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        return serve(config, args)
    except HarnessError as exc:
        print(f"parity gateway: {exc}", file=sys.stderr)
        return 2
