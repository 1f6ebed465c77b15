"""A signal whose KeyboardInterrupt Python drops (raised inside a gc callback, as hypothesis
registers one) still ends the run interrupted: the interrupt is raised again at the next step
(``signals.at``) or when the ``interruptible`` block ends.

Each case is a child interpreter (signal handlers and the module's state are per process)
that sends itself SIGTERM from a gc callback, where Python prints "Exception ignored in" and
goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import gc, os, signal, sys
from harness.proc import signals

fired = []

def callback(phase, info):
    if phase == "start" and not fired:
        fired.append(1)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100000):  # the handler runs here, and its exception is dropped
            pass

try:
    with signals.interruptible():
        signals.at("stateless")
        gc.callbacks.append(callback)
        gc.collect()
        gc.callbacks.remove(callback)
        print("lost", flush=True)
        {after}
        print("not reached", flush=True)
except KeyboardInterrupt:
    signals.handled()
    print("raised again in", signals.where(), flush=True)
    signals.check()  # handled: not raised a third time
    sys.exit(2)
print("ended normally", flush=True)
"""


@pytest.mark.parametrize(
    ("after", "where"),
    [("signals.at('report writing')", "phase stateless"), ("pass", "phase stateless")],
    ids=["at-the-next-step", "at-the-block-end"],
)
def test_an_interrupt_dropped_in_a_gc_callback_is_raised_again(after: str, where: str) -> None:
    code = textwrap.dedent(CHILD).replace("{after}", after)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "Exception ignored in" in done.stderr, done.stderr  # Python did drop it
    assert "lost" in done.stdout, (done.stdout, done.stderr)
    assert f"raised again in {where}" in done.stdout, (done.stdout, done.stderr)
    assert "ended normally" not in done.stdout
    assert done.returncode == 2, (done.stdout, done.stderr)
    if after == "pass":
        assert "not reached" in done.stdout  # the block ran to its end, then raised
    else:
        assert "not reached" not in done.stdout


EVAL_CHILD = """
import os, signal, sys
from harness.proc import signals

try:
    with signals.interruptible():
        # the signal's KeyboardInterrupt leaves code run by eval from a source string
        eval("os.kill(os.getpid(), signal.SIGTERM) or sum(range(10 ** 7))")
        print("not reached", flush=True)
except KeyboardInterrupt:
    {handle}
    print("handled", flush=True)
sys.exit(2)
"""


@pytest.mark.parametrize("handle", ["signals.handled()", "pass"], ids=["handled", "bare"])
def test_an_interrupt_that_left_an_eval_still_exits_2_once_handled(
    handle: str, tmp_path: Path
) -> None:
    """CPython remembers a KeyboardInterrupt that left an eval of a source string and exits
    by SIGINT (-2) at the end whatever caught it; ``signals.handled`` clears that, so a run
    interrupted there exits 2 as promised (the bare catch shows the trap is real). Run with
    ``-m``, as ``parity`` is (``-c`` and a script path exit at once on SystemExit)."""
    (tmp_path / "evalchild.py").write_text(textwrap.dedent(EVAL_CHILD).replace("{handle}", handle))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "evalchild"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "handled" in done.stdout, (done.stdout, done.stderr)
    assert "not reached" not in done.stdout
    if handle == "pass":
        assert done.returncode == -2, (done.returncode, done.stderr)
    else:
        assert done.returncode == 2, (done.returncode, done.stderr)


WAIT_CHILD = """
import os, signal, sys, threading, time
from concurrent.futures import Future
from harness.proc import signals

plain, delay = sys.argv[1] == "plain", float(sys.argv[2])
future = Future()
ready = threading.Event()


def send():
    ready.wait()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(delay)  # the future is done only after the signal was sent
    future.set_result("done")


# the thread starts before the main thread blocks SIGTERM: the kernel delivers it there, as
# it may to a pool's thread in a run
threading.Thread(target=send, daemon=True).start()
try:
    with signals.interruptible():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        ready.set()
        got = future.result() if plain else signals.result(future)
        print("waited for", got, flush=True)
        signals.at("stateless")
except KeyboardInterrupt:
    signals.handled()
    print("interrupted; the future pending:", not future.done(), flush=True)
    os._exit(2)
os._exit(0)
"""


@pytest.mark.parametrize(
    ("wait", "delay", "pending"),
    [("signals", "120", True), ("plain", "2", False)],
    ids=["signals-result", "plain-result"],
)
def test_a_signal_taken_by_another_thread_interrupts_a_wait_on_a_future(
    wait: str, delay: str, pending: bool
) -> None:
    """Case generation waits on a worker's future. A SIGTERM the kernel hands to another
    thread only flags the main thread: ``signals.result`` wakes to run the handler while the
    future is still pending; a plain ``result()`` (the trap, shown with a short future) sees
    it only once the future is done."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WAIT_CHILD), wait, delay],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"the future pending: {pending}" in done.stdout, (done.stdout, done.stderr)
