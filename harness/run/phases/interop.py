"""Interop: both services on ONE database; what one writes, the other must read the same.

The database is a copy of the snapshot (SQLite), or a clone of the legacy's PostgreSQL
template when both targets are on PostgreSQL; across engines there is no one database.

For every create operation with links to reads: create through one service, then read the
linked resource through the writer and through the other service; the two reads must
agree. Both directions. The database is shared, so sessions are too.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from harness.cases.sequences import fill, pointer
from harness.compare.comparison import Clock, compare_exchange
from harness.errors import HarnessError
from harness.models import ExchangeResult, PreparedRequest, Response
from harness.pair.services import copy_snapshot
from harness.pair.targets import login
from harness.pair.transport import Target, TargetUnreachable, Transport
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext
from harness.run.partition import interop_links
from harness.setup.contract import Link

__all__ = ["Interop"]

LABEL = "interop (shared database)"


class Interop:
    name = "interop"

    def execute(self, ctx: RunContext) -> None:
        pair = ctx.pair
        if pair.snapshot is None:
            return
        engines = {pair.engines.get(side, "sqlite") for side in ("legacy", "candidate")}
        if len(engines) > 1 or (engines == {"postgresql"} and "legacy" not in pair.templates):
            ctx.stats.notes.append(
                "interop: needs both services on one database of one engine; skipped"
            )
            return
        links = interop_links(ctx.contract, {op.id for op in ctx.everything})
        if not links:
            ctx.stats.notes.append("interop: no create operation links to a read")
            return
        sources = sorted({link.source for link in links if ctx.runs_interop(link.source)})
        if not sources:
            return  # --shard: another shard has them
        started = time.perf_counter()
        shared: Path | str
        if engines == {"postgresql"}:  # a clone of the legacy's template, dropped after
            from sqlalchemy.engine import make_url

            from harness.db.postgres import clone_database, drop_database

            template = pair.templates["legacy"]
            shared = clone_database(template, f"{make_url(template).database}_shared")
            pair.stack.callback(drop_database, shared)
        else:
            shared = copy_snapshot(pair.snapshot, pair.tmp / "shared.db")
        keys = {"legacy": "interop_legacy", "candidate": "interop_candidate"}
        for side, key in keys.items():
            pair.start_service(key, ctx.config.services[side], shared)
        transport: Transport | None = None
        try:
            for key in keys.values():
                pair.services[key].wait_healthy()
            targets = {
                side: Target(side, pair.services[key].base_url) for side, key in keys.items()
            }
            transport = pair.new_transport(targets["legacy"], targets["candidate"])
            login(ctx.config, transport, targets, pair)
            role = ctx.roles()[0]
            ctx.listener.operation_started(OperationStarted(label=LABEL, total=len(sources)))
            for source in sources:
                for base in ctx.cases.pool(source)[: ctx.profile.interop_cases]:
                    for writer, reader in (("legacy", "candidate"), ("candidate", "legacy")):
                        _case(
                            ctx, transport, links, source, replace(base, role=role), writer, reader
                        )
                ctx.listener.case_done(CaseDone(label=LABEL, agreed=True))
        except TargetUnreachable as exc:
            raise HarnessError(f"interop: {exc}", kind="service") from exc
        finally:
            if transport is not None:
                transport.close()
            for key in keys.values():
                pair.stop_service(key)
            pair.timings.interop += time.perf_counter() - started


def _case(
    ctx: RunContext,
    transport: Transport,
    links: list[Link],
    source: str,
    req: PreparedRequest,
    writer: str,
    reader: str,
) -> None:
    written = transport.send_one(writer, req)
    ctx.stats.interop["writes"] += 1
    if not 200 <= written.status < 300:
        return
    for link in links:
        if link.source != source or link.status != str(written.status):
            continue
        values = {name: pointer(written.body, expr) for name, expr in link.parameters}
        pool = ctx.cases.pool(link.target)
        if any(v is None for v in values.values()) or not pool:
            continue
        target_path = ctx.contract.get(link.target).path
        read = fill(replace(pool[0], role=req.role), target_path, values)
        via_writer = transport.send_one(writer, read)
        via_reader = transport.send_one(reader, read)
        ctx.stats.interop["reads"] += 2
        diffs = [
            d
            for d in compare_exchange(
                via_writer,
                via_reader,
                None,
                None,
                ctx.rules(link.target),
                ctx.config.compare,
                # both read what the write stamped, and may stamp while reading
                Clock(
                    tuple(
                        (a, b)
                        for a, b in (
                            (written.window, written.window),
                            (via_writer.window, via_reader.window),
                        )
                        if a is not None and b is not None
                    )
                ),
                learned=ctx.noise.headers,
            )
            if not ctx.findings.accepted(link.target, d)
        ]
        if not diffs:
            continue
        ctx.stats.interop["failing"] += 1
        # reported as legacy/candidate = the service that answered the read
        by_side = {writer: via_writer, reader: via_reader}
        placeholder = Response(0, (), None, "", 0.0, error=f"written through {writer}")
        write_step = ExchangeResult(
            req,
            written if writer == "legacy" else placeholder,
            written if writer == "candidate" else placeholder,
            None,
            None,
            [],
        )
        flipped = [
            replace(d, legacy=d.candidate, candidate=d.legacy) if writer == "candidate" else d
            for d in diffs
        ]
        read_step = ExchangeResult(
            read,
            by_side["legacy"],
            by_side["candidate"],
            None,
            None,
            [
                replace(d, summary=f"written via {writer}, read via {reader}: {d.summary}")
                for d in flipped
            ],
        )
        ctx.findings.add_interop(link.target, [write_step, read_step])
