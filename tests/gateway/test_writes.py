"""WriteCounters: what makes a compared read raced, in one gateway and across instances that
share a counts file (``[gateway] shared_writes``)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from harness.gateway.writes import WriteCounters


def test_one_gateway_a_write_in_flight_or_done_meanwhile_races_a_read() -> None:
    counters = WriteCounters()
    quiet = counters.snapshot()
    assert not WriteCounters.raced(quiet, counters.snapshot())
    counters.started()
    in_flight = counters.snapshot()
    assert WriteCounters.raced(quiet, in_flight)  # in flight at the end
    assert WriteCounters.raced(in_flight, in_flight)  # in flight at the start
    counters.done()
    after = counters.snapshot()
    assert WriteCounters.raced(quiet, after)  # one finished in between
    assert not WriteCounters.raced(after, counters.snapshot())
    counters.applied()  # a mirrored write: the legacy has the original
    assert WriteCounters.raced(after, counters.snapshot())


def test_instances_sharing_a_file_see_each_other_s_writes(tmp_path: Path) -> None:
    shared = tmp_path / "writes.bin"
    one, two = WriteCounters(shared), WriteCounters(shared)
    alone = WriteCounters()  # an instance that does not share the file
    before = one.snapshot(), alone.snapshot()
    two.started()
    assert WriteCounters.raced(before[0], one.snapshot())
    two.done()
    assert WriteCounters.raced(before[0], one.snapshot())
    assert not WriteCounters.raced(before[1], alone.snapshot())
    mid = one.snapshot()
    two.applied()
    assert WriteCounters.raced(mid, one.snapshot())
    assert one.snapshot()[2:] == two.snapshot()[2:] == (2, 2)


def _bump(counters: WriteCounters, times: int) -> None:
    for _ in range(times):
        counters.started()
        counters.done()


def test_counts_survive_the_spawned_worker_and_concurrent_instances(tmp_path: Path) -> None:
    """The worker gets the counters by pickling (spawn); two processes updating the file at
    once lose no update (flock), so the counts stay exact."""
    shared = tmp_path / "writes.bin"
    ctx: Any = multiprocessing.get_context("spawn")
    mine = WriteCounters(shared)
    procs = [ctx.Process(target=_bump, args=(mine, 500)) for _ in range(2)]
    for p in procs:
        p.start()
    _bump(WriteCounters(shared), 500)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert mine.snapshot()[2:] == (1500, 1500)
    # the array travelled as shared memory: the children's counts reached ours (only the
    # serving process writes it in a gateway; two writers here may lose an increment)
    assert mine.snapshot()[1] > 0
