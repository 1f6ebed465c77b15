"""The flat layout's import paths still work for one release, each the very module it was
moved to, with one DeprecationWarning naming the new path."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from harness._moved import MOVED

PROBE = textwrap.dedent(
    """
    import importlib, json, sys, warnings
    from harness._moved import MOVED
    out = {}
    for old, new in sorted(MOVED.items()):
        with warnings.catch_warnings(record=True) as first:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        with warnings.catch_warnings(record=True) as again:
            warnings.simplefilter("always")
            importlib.import_module(old)
        out[old] = {
            "same": module is importlib.import_module(new),
            "spec": module.__spec__.name,
            "first": [str(w.message) for w in first if w.category is DeprecationWarning],
            "again": len(again),
        }
    with warnings.catch_warnings(record=True) as names:
        warnings.simplefilter("always")
        from harness.pair import Pair
        from harness.pair import Pair as Pair2
        from harness.pair import services
        from harness.cases import CaseSource
        from harness.bench import main
    import harness.pair.targets, harness.cases.source
    out["names"] = {
        "same": Pair is harness.pair.targets.Pair and CaseSource is harness.cases.source.CaseSource,
        "messages": [str(w.message) for w in names],
        "file": [w.filename for w in names],
    }
    json.dump(out, sys.stdout)
    """
)


def test_every_old_path_is_the_moved_module_and_warns_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    out = json.loads(done.stdout)
    for old, new in MOVED.items():
        got = out[old]
        assert got["same"], old
        assert got["spec"] == new, old  # the real module's spec is untouched
        assert any(f"{old} moved to {new}" in m for m in got["first"]), (old, got["first"])
        assert got["again"] == 0, old
    names = out["names"]
    assert names["same"]
    # one warning per old name, none for a submodule, none for the second lookup
    assert names["messages"] == [
        "harness.pair.Pair moved to harness.pair.targets.Pair; the old path goes in the next release",
        "harness.cases.CaseSource moved to harness.cases.source.CaseSource; the old path goes "
        "in the next release",
        "harness.bench.main moved to harness.bench.services.main; the old path goes in the next "
        "release",
    ]
    assert all(f == "<string>" for f in names["file"])  # the warning points at the importer


def test_the_pytest_plugin_and_user_api_keep_their_paths() -> None:
    import harness
    import harness.pytest_plugin

    assert harness.invariant.__module__ == "harness.db.invariants"
    assert harness.pytest_plugin.__name__ == "harness.pytest_plugin"


def test_rewrite_makes_old_paths_new_and_leaves_new_ones() -> None:
    from harness._moved import rewrite

    old = (
        "from harness.config import ParityConfig\n"
        "from harness.pair import Pair, login\n"
        "import harness.phases.stateful\n"
        'patch("harness.pair.login"); patch("harness.engine.Engine.run")\n'
        "see harness/pair.py, harness/phases/rows.py, harness/dbdiff.py; python -m harness.bench_db\n"
    )
    new = (
        "from harness.setup.config import ParityConfig\n"
        "from harness.pair.targets import Pair, login\n"
        "import harness.run.phases.stateful\n"
        'patch("harness.pair.targets.login"); patch("harness.run.engine.Engine.run")\n'
        "see harness/pair/targets.py, harness/run/phases/rows.py, harness/db/sqlite.py; "
        "python -m harness.bench.db_writes\n"
    )
    assert rewrite(old) == new
    assert rewrite(new) == new  # new paths (harness.pair.services, harness/pair/) stay
    untouched = "from harness.pair.services import free_port\nharness/pair/ harness.db.postgres\n"
    assert rewrite(untouched) == untouched
