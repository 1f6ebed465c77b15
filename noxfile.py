"""Developer sessions for parity: `nox -s tests`, `nox -s parity`, `nox -s lint`, ..."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]

ROOT = Path(__file__).parent
LEGACY = ROOT / "legacy"
# better-sqlite3 compiles against the system Node's headers where they are installed
NPM_ENV = {"npm_config_nodedir": "/usr"} if Path("/usr/include/node/node.h").is_file() else {}


def _uv() -> str:
    """The uv that installs from uv.lock: on PATH, or the one nox runs beside."""
    found = shutil.which("uv")
    if found is None:
        try:
            from uv import find_uv_bin
        except ImportError:
            raise RuntimeError("nox sessions install from uv.lock: pip install uv") from None
        found = find_uv_bin()
    return found


def _install(session: nox.Session, *groups: str, project: bool = True) -> None:
    """Exactly the versions in uv.lock (``--frozen``): the project with its extras (the
    gateway, PostgreSQL) and the named groups."""
    args = ["sync", "--frozen", "--all-extras", "--no-default-groups"]
    args += [f"--group={g}" for g in groups]
    if not project:
        args += ["--no-install-project"]
    env = {"UV_PROJECT_ENVIRONMENT": str(session.virtualenv.location)}
    session.run_install(_uv(), *args, env=env, external=True)


def _build_legacy(session: nox.Session, *, force: bool = False) -> None:
    """Install and build the Next.js legacy service unless a build is already there."""
    if shutil.which("npm") is None:
        session.error("npm is required to build the legacy service (Node 20, npm 11)")
    with session.chdir(LEGACY):
        if force or not (LEGACY / "node_modules").is_dir():
            session.run("npm", "ci", "--no-audit", "--no-fund", external=True, env=NPM_ENV)
        if force or not (LEGACY / ".next" / "BUILD_ID").is_file():
            session.run("npm", "run", "build", external=True)
        elif not (LEGACY / "dist" / "server.cjs").is_file():  # a build from before the bundle
            session.run("npm", "run", "--silent", "build:server", external=True)


@nox.session(python="3.11")
def legacy(session: nox.Session) -> None:
    """Install, build and test the Next.js legacy service."""
    _build_legacy(session, force="--force" in session.posargs)
    with session.chdir(LEGACY):
        session.run("npm", "test", external=True)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The README's test command: unit, integration and the fast e2e (not ``slow``, not the
    mutant catalogue), one pytest-xdist worker per core; arguments replace the defaults
    (``nox -s tests -- tests/harness -x`` runs in one process, every tier)."""
    _install(session, "test")
    _build_legacy(session)
    default = ["-m", "not slow", "-n", "auto", "--dist", "worksteal", "--durations=25"]
    session.run("pytest", *(session.posargs or default))


@nox.session(python="3.11")
def slow(session: nox.Session) -> None:
    """The ``slow`` tests (more than a few seconds each, listed in tests/conftest.py ``SLOW``
    with what each took: the shipped pair under full profiles and killed in every phase,
    PostgreSQL pairs, `parity init` runs, seeds kept as regressions, traffic replay, most of
    the gateway e2e); CI runs them."""
    _install(session, "test")
    _build_legacy(session)
    default = ["-m", "slow", "-n", "auto", "--dist", "worksteal", "--durations=25"]
    session.run("pytest", *(session.posargs or default))


@nox.session(python="3.11")
def unit(session: nox.Session) -> None:
    """The inner loop: phases, findings, comparison, reports; no services (under a minute)."""
    _install(session, "test")
    session.run("pytest", "-m", "unit", *session.posargs)


@nox.session(python="3.11")
def parity(session: nox.Session) -> None:
    """Run the harness on the shipped pair and write the HTML report (args pass through)."""
    _install(session, "port")
    _build_legacy(session)
    args = session.posargs or ["--profile", "dev"]
    # the shipped webhook's secret: parity signs with it, both services inherit it
    secret = os.environ.get("WEBHOOK_SECRET") or "parity-dev-webhook-secret"
    session.run("parity", "run", *args, env={"WEBHOOK_SECRET": secret})


@nox.session(python="3.11")
def conformance(session: nox.Session) -> None:
    """Check the contract against the running legacy and the port with schemathesis, in full:
    50 examples per operation (the default suite draws 10; PARITY_CONFORMANCE_EXAMPLES)."""
    _install(session, "test")
    _build_legacy(session)
    examples = os.environ.get("PARITY_CONFORMANCE_EXAMPLES", "50")
    session.run(
        "pytest",
        "-m",
        "e2e",
        "tests/e2e/test_conformance.py",
        *session.posargs,
        env={"PARITY_CONFORMANCE_EXAMPLES": examples},
    )


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Measure harness throughput and service latency side by side; prints figures."""
    _install(session, "port")
    _build_legacy(session)
    session.run("python", "-m", "harness.bench", *session.posargs)


@nox.session(python="3.11")
def traffic(session: nox.Session) -> None:
    """Simulated traffic from a fresh seeded legacy, in the capture format (args pass through)."""
    _install(session, "test")
    _build_legacy(session)
    args = session.posargs or ["--seed", "7", "--requests", "300", "--out", "reports/traffic.jsonl"]
    session.run("python", "-m", "tests.traffic.simulate", *args)


@nox.session(name="traffic-measure", python="3.11")
def traffic_measure(session: nox.Session) -> None:
    """10,000 simulated requests reduced and replayed on the managed pair, against `parity run`
    on the same pair: prints figures (tests/traffic/measure.py; args pass through)."""
    _install(session, "test")
    _build_legacy(session)
    session.run("python", "-m", "tests.traffic.measure", *session.posargs)


@nox.session(python="3.11")
def mutants(session: nox.Session) -> None:
    """Detection power: every mutant of the catalogue caught, the unmutated port quiet."""
    _install(session, "test")
    _build_legacy(session)
    session.run("pytest", "-m", "mutants", "tests/mutants", *session.posargs)


@nox.session(name="mutants-bench", python="3.11")
def mutants_bench(session: nox.Session) -> None:
    """The detection benchmark table and false positives over 10 seeds (tests/mutants/bench.py)."""
    _install(session, "test")
    _build_legacy(session)
    session.run("python", "-m", "tests.mutants.bench", "--fp-seeds", "10", *session.posargs)


@nox.session(python="3.11")
def stress(session: nox.Session) -> None:
    """The ``timing`` tests (timing, signals, process start-up) 20 rounds in a row beside two
    CPU-bound processes; ``nox -s stress -- --suite`` first runs the whole (non-mutant) suite
    once beside them. ``PARITY_STRESS_ROUNDS`` sets the rounds; other arguments go to pytest.
    Every round runs to its end: the tally at the end says how many rounds passed."""
    _install(session, "test")
    _build_legacy(session)
    rounds = int(os.environ.get("PARITY_STRESS_ROUNDS", "20"))
    args = [a for a in session.posargs if a != "--suite"]
    out = Path(session.create_tmp()) / "stress"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(2)
    ]
    try:
        if "--suite" in session.posargs:
            session.log("the whole suite once, two CPU burners beside")
            session.run("pytest", "-q", *args)
        for round_ in range(1, rounds + 1):
            session.log(f"timing tests, round {round_} of {rounds}, two CPU burners beside")
            junit = out / f"round-{round_}.xml"
            # xunit1: the family that keeps each test's recorded properties (measured times)
            report = [f"--junitxml={junit}", "-o", "junit_family=xunit1"]
            session.run("pytest", "-q", "-m", "timing", *report, *args, success_codes=[0, 1])
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    tally = _stress_tally(sorted(out.glob("round-*.xml")))
    session.log(tally[0])
    if tally[1]:
        session.error(tally[0])


def _stress_tally(files: list[Path]) -> tuple[str, int]:
    """``N of M rounds passed, T tests each; failed: ...`` from the rounds' JUnit files, and
    the largest of each measured time a test records (``record_property("exit_s", ...)``:
    the kill tests' signal-to-exit and kill-to-nothing-left, which they print but assert
    only against a generous deadline)."""
    import xml.etree.ElementTree as ET

    bad: dict[str, int] = {}
    clean = 0
    tests = 0
    worst: dict[str, tuple[float, str]] = {}
    for file in files:
        failed = []
        for case in ET.parse(file).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname')}::{case.get('name')}")
            for prop in case.iter("property"):
                name, value = prop.get("name", ""), prop.get("value", "")
                measured = name.endswith("_s") and value.replace(".", "", 1).isdigit()
                if measured and float(value) > worst.get(name, (-1.0, ""))[0]:
                    worst[name] = (float(value), str(case.get("name")))
        suite = ET.parse(file).getroot().find("testsuite")
        if suite is not None:
            tests = int(suite.get("tests", "0")) - int(suite.get("skipped", "0"))
        clean += not failed
        for name in failed:
            bad[name] = bad.get(name, 0) + 1
    line = f"stress: {clean} of {len(files)} rounds passed, {tests} timing tests each"
    if bad:
        line += "; failed: " + ", ".join(f"{k} ({v}x)" for k, v in sorted(bad.items()))
    for measure, (seconds, where) in sorted(worst.items()):
        line += f"; largest {measure} {seconds:.2f} s ({where})"
    return line, len(files) - clean


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff lint and format check over backend, harness, tests and noxfile; the layers
    (lint-imports: the contracts in pyproject.toml)."""
    _install(session, "lint", project=False)
    session.run("ruff", "check", "backend", "harness", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "backend", "harness", "tests", "noxfile.py")
    session.run("lint-imports")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over backend, harness and noxfile."""
    _install(session, "typecheck")
    session.run("mypy", env={"MYPYPATH": os.fspath(ROOT)})
