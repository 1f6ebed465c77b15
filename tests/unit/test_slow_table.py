"""tests/conftest.py's ``SLOW`` table: every entry names a test that exists, and the rule that
applies it matches a module, a function (every parameter) or one parameter, nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import LONGEST, SLOW, _in_slow_table, _longest_first

ROOT = Path(__file__).resolve().parents[2]


def _functions(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


@pytest.mark.parametrize("entry", sorted(SLOW))
def test_each_entry_names_a_test_that_exists(entry: str) -> None:
    module, _, rest = entry.partition("::")
    path = ROOT / module
    assert path.is_file(), f"{entry}: no such module"
    if rest:
        function = rest.split("[", 1)[0].split("::")[-1]
        assert function in _functions(path), f"{entry}: no test {function} in {module}"


def test_a_module_a_function_or_one_parameter_is_matched() -> None:
    module = "tests/harness/test_e2e_kill_phases.py"
    assert module in SLOW
    assert _in_slow_table(f"{module}::test_sigkill_in_each_phase_leaves_nothing[bench]")
    assert not _in_slow_table("tests/harness/test_e2e_kill.py::test_sigkill_leaves_no_process")
    # a function named in the table: each parameter of it, not its neighbours
    named = next(e for e in SLOW if "::" in e and "[" not in e)
    assert _in_slow_table(f"{named}[any]")
    assert not _in_slow_table(f"{named}_other")


@pytest.mark.parametrize("module", sorted(LONGEST))
def test_each_longest_first_module_exists(module: str) -> None:
    assert (ROOT / module).is_file(), f"LONGEST: {module}: no such module"


def test_long_modules_are_collected_first_and_kept_together() -> None:
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    short = "tests/x/test_a.py"
    long_, longer = min(LONGEST, key=LONGEST.__getitem__), max(LONGEST, key=LONGEST.__getitem__)
    items = [Item(f"{short}::t1"), Item(f"{long_}::t1"), Item(f"{longer}::t1")]
    items += [Item(f"{long_}::t2"), Item(f"{short}::t2")]
    _longest_first(items)  # type: ignore[arg-type]
    got = [i.nodeid for i in items]
    assert got[0] == f"{longer}::t1"
    assert got[-2:] == [f"{short}::t1", f"{short}::t2"]
    assert got.index(f"{long_}::t2") == got.index(f"{long_}::t1") + 1
