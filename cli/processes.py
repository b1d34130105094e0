"""``deploy -p N``: N local processes of one Bytewax cluster, supervised as one unit.

- A stop (SIGTERM, Ctrl-C) is forwarded to every process as a clean stop (each ends its
  sources, snapshots, exits 0); a second one kills them.
- When one process fails, the others are stopped cleanly and deploy exits 3 with one line
  naming the process and why: a cluster with a member gone cannot make progress.
- The processes die with their parent, even if it is killed with SIGKILL (Linux parent-death
  signal), so no orphan keeps writing.
- A second deploy of the same recovery store is refused by each process's store lock
  (engine/runtime/store_lock.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, error_line

if TYPE_CHECKING:  # the commands' consoles make rich at their first use (cli/plain.py)
    from rich.console import Console

_PR_SET_PDEATHSIG = 1
_GRACE = 60.0  # seconds a stopping process may take to close its epoch before it is killed


def _child_setup() -> Callable[[], None]:
    """Runs in each child between fork and exec: its own process group (Ctrl-C at a terminal
    reaches the parent only, which forwards one clean stop, not two signals), on Linux death
    with the parent, and SIGTERM and SIGINT blocked until its first lines hold them
    (cli/early_signals.py): a stop forwarded while its interpreter starts is a clean one, not a kill."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def arrange() -> None:
        os.setpgid(0, 0)
        signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGTERM, signal.SIGINT))
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return arrange


def _why(code: int) -> str:
    return f"was killed by signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"exited with code {code}"


def supervise(commands: List[List[str]], out: Console, err: Console, env: Optional[Dict[str, str]] = None) -> int:
    setup = _child_setup()
    children = [subprocess.Popen(command, preexec_fn=setup, env=env) for command in commands]  # noqa: PLW1509
    stops = 0

    def stop(signum, frame) -> None:
        nonlocal stops
        stops += 1
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM if stops == 1 else signal.SIGKILL)

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    failure = None
    try:
        while any(child.poll() is None for child in children):
            failure = None if stops else _failure(children)
            if failure is not None:
                _report(err, failure, others=True)
                _stop_all(children)
                break
            time.sleep(0.1)
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    if failure is not None:
        return EXIT_FAILED
    if stops:  # each process stopped cleanly (the next deploy resumes there), or was killed
        return EXIT_OK if all(code == 0 for code in codes) else EXIT_INTERRUPTED
    failure = _failure(children)
    if failure is not None:
        _report(err, failure, others=False)
        return EXIT_FAILED
    return EXIT_OK


def _failure(children: List[subprocess.Popen]) -> Optional[Tuple[int, int]]:
    """The process that failed, if one did: one killed by a signal before one that exited with
    an error (the others then fail for want of it)."""
    ended = [(index, child.poll()) for index, child in enumerate(children)]
    failed = [(index, code) for index, code in ended if code not in (None, 0)]
    return min(failed, key=lambda f: (f[1] >= 0, f[0])) if failed else None


def _report(err: Console, failure: Tuple[int, int], others: bool) -> None:
    index, code = failure
    err.print(error_line(f"process {index} {_why(code)}" + ("; stopping the others" if others else ""), markup=True),
              highlight=False)


def _stop_all(children: List[subprocess.Popen]) -> None:
    """A clean stop for the processes still running; killed if they take longer than _GRACE."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE
    while time.monotonic() < deadline and any(c.poll() is None for c in children):
        time.sleep(0.1)
    for child in children:
        if child.poll() is None:
            child.kill()
