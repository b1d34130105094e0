"""A clean stop, asked for by SIGTERM/SIGINT (or ``tap --limit``).

Every source ends at its next batch, so Bytewax sees the end of its input: it closes the
epoch and writes its snapshot (source positions, every key's state), then the run returns.
With a recovery store, keyed steps keep their state at that end instead of flushing it (a
window is not over because the process stops), so the next start resumes exactly there:
nothing emitted twice, nothing lost. The sources read the flag at every batch: it is plain and
process-wide.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable, Optional

_STOP = threading.Event()
_KEEP = threading.Event()
_BEFORE_RUN = threading.Event()


def request_stop(keep_state: bool = True) -> None:
    """End the run at the next batch. ``keep_state``: keyed steps keep what they hold for the
    next start (a run with a recovery store); without one nothing would keep it, so they
    release it as at the end of the input."""
    if keep_state:
        _KEEP.set()
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def state_kept() -> bool:
    """Whether keyed steps keep their state at the end of the input (a clean stop with recovery)."""
    return _STOP.is_set() and _KEEP.is_set()


def clear_stop() -> None:
    """Before a run: a stop asked for by an earlier run in this process is over."""
    _STOP.clear()
    _KEEP.clear()


def stop_before_run_on_signals(came_before: Optional[Callable[[], bool]] = None) -> None:
    """For ``run`` and ``deploy``, from the start of the command: a SIGTERM or SIGINT that comes
    while the topology is still being validated and compiled (a second or more) is a clean stop
    too, as during the run: the flow does not start, nothing is lost, the exit is 0. A second
    one aborts (KeyboardInterrupt). The run's own handlers take over while it runs
    (engine.runtime.runner.signals_stop_cleanly). ``came_before()``: whether one came before the
    command began, held by the CLI's first lines (cli/early_signals.py); asked once these
    handlers are in, so none is missed, it counts as the first."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame) -> None:
        # a second signal aborts: also when the first came during the run, whose handlers gave
        # these back as it ended (it said "the flow will not start" and exited 0, not 130)
        if _BEFORE_RUN.is_set() or stop_requested():
            raise KeyboardInterrupt
        _BEFORE_RUN.set()
        request_stop(keep_state=True)  # if the run is starting already, its sources end at once
        os.write(2, b"velocity-flow: stopping: the flow will not start (again to abort)\n")

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    if came_before is not None and came_before():
        stop(signal.SIGTERM, None)


def stopped_before_run() -> bool:
    """Whether a stop came before the run began (``stop_before_run_on_signals``)."""
    return _BEFORE_RUN.is_set()
