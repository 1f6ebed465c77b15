"""Ctrl-C and SIGTERM end a run within seconds, wherever it is, and say where it stopped.

The first signal raises KeyboardInterrupt (the engine turns it into partial results) and arms
a watchdog: if the process has not exited within ``HARD_EXIT_S`` (a teardown stuck on a busy
machine, a thread join at interpreter exit), the reaper kills every recorded child and the
process exits 2. A second signal exits at once the same way.

Python drops an exception raised where it cannot propagate (a gc callback, such as
hypothesis's, a ``__del__``, a weakref callback: "Exception ignored in ..."), and a signal's
handler runs wherever the main thread happens to be. Such a lost interrupt is raised again at
the next step of the run (``at``) and when an ``interruptible`` block ends, until whoever
catches it says so (``handled``): a run signalled once always ends interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import FrameType
from typing import TypeVar

from harness.proc.reaper import REAPER

T = TypeVar("T")

HARD_EXIT_S = 4.0
EXIT_INTERRUPTED = 2

_where: dict[str, str] = {"phase": "start-up", "operation": "", "step": ""}
_state: dict[str, float] = {}


def at(phase: str | None = None, operation: str | None = None, step: str | None = None) -> None:
    """Record where the run is for the interruption message; a new phase or step also goes
    to the reaper's state file (phase ``stateless``, step ``generation``, ``database diff``).
    An interrupt that was lost is raised again here."""
    check()
    changed = False
    if phase is not None:
        changed = phase != _where["phase"] or bool(_where["step"])
        _where.update(phase=phase, operation="", step="")
    if operation is not None:
        _where["operation"] = operation
    if step is not None and step != _where["step"]:
        _where["step"] = step
        changed = True
    if changed:
        REAPER.note(_where["phase"], _where["step"])


def where() -> str:
    """``phase stateless (database diff), operation getCase``: where the run was when it was
    interrupted."""
    text = f"phase {_where['phase']}"
    if _where["step"]:
        text += f" ({_where['step']})"
    if _where["operation"]:
        text += f", operation {_where['operation']}"
    return text


def handled() -> None:
    """The KeyboardInterrupt of the signal was caught by code that acts on it."""
    if "signalled" in _state:
        _state["handled"] = time.monotonic()
    # CPython sets a process-wide flag when a KeyboardInterrupt leaves code that eval or exec
    # ran from a source string (pydantic evaluates string annotations so, jinja2 and
    # dataclasses too) and, at exit, kills itself with SIGINT (exit -2, no traceback)
    # however the interrupt was handled after; every such evaluation clears the flag first
    # (pythonrun.c run_eval_code_obj): this one says the interrupt was handled.
    eval("None")


def check() -> None:
    """Raise the interrupt again if a signal came and its KeyboardInterrupt was lost (raised
    where Python ignores exceptions); only on the main thread, where the handler raised it."""
    lost = "signalled" in _state and "handled" not in _state
    if lost and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


def interrupted_at() -> float | None:
    """Monotonic time of the first signal, or None."""
    return _state.get("signalled")


POLL_S = 0.25  # how often a wait on another thread or process wakes the main thread


def result(future: Future[T]) -> T:
    """``future.result()``, woken every ``POLL_S`` so a signal's handler runs. A signal sent
    to the process is delivered to any one of its threads; one delivered to a pool's thread
    only flags the main thread, which runs the handler at its next bytecode, and a main
    thread asleep in an unbounded ``result()`` has none until the future is done (a SIGTERM
    during case generation once took 18.9 s to end a run, its other rounds 1 s)."""
    while True:
        try:
            return future.result(timeout=POLL_S)
        except FutureTimeout:
            if future.done():  # raised by the future's own work
                raise
            continue


def grace(normal_s: float) -> float:
    """How long a teardown step may wait: short once interrupted, so the whole teardown and
    the partial results fit in the few seconds before the watchdog."""
    return min(normal_s, 0.5) if "signalled" in _state else normal_s


def _hard_exit() -> None:
    with contextlib.suppress(Exception):
        sys.stderr.write(f"parity: interrupted ({where()}); stopping now\n")
        sys.stderr.flush()
    REAPER.kill_all()
    os._exit(EXIT_INTERRUPTED)


def _watchdog() -> None:
    deadline = _state["signalled"] + HARD_EXIT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
    _hard_exit()


def _handler(signum: int, frame: FrameType | None) -> None:
    if "signalled" in _state:
        _hard_exit()
    _state["signalled"] = time.monotonic()
    threading.Thread(target=_watchdog, name="parity-interrupt-watchdog", daemon=True).start()
    raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt once, then the watchdog guarantees exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
        check()  # the block ended normally, though a signal came: its interrupt was lost
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
