"""A clean stop, asked for by SIGTERM/SIGINT (or ``tap --limit``).

Every source ends at its next batch, so Bytewax sees the end of its input: it closes the
epoch and writes its snapshot (source positions, every key's state), then the run returns.
With a recovery store, keyed steps keep their state at that end instead of flushing it (a
window is not over because the process stops), so the next start resumes exactly there:
nothing emitted twice, nothing lost. The sources read the flag at every batch: it is plain and
process-wide.
"""

from __future__ import annotations

import threading

_STOP = threading.Event()
_KEEP = threading.Event()


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
