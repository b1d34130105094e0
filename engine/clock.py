"""Processing time: the system clock, or a clock that ``velocity-flow test`` sets.

The keyed steps (``micro_batch``'s ``every``, ``time: processing`` windows, the event-time
watermark's advance, ``idle`` timers, a join's ``wait``) read the time with :func:`now`. A
test case sets it (:func:`set_time`): it stands still between the case's inputs and moves
only when the case says ``advance``. Bytewax waits on the system clock for a step's timer,
so :func:`timer` turns a timer of the set clock into a system time to look again at.

One run at a time per process, as the runner assumes (engine/run_context.py).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Optional

POLL = timedelta(milliseconds=2)  # how often a pending timer of a set clock is looked at

_set: Optional[datetime] = None
_busy = 0.0  # time.monotonic() of the last batch a keyed step took while the clock was set


def now() -> datetime:
    """The processing time: the set clock, else the system's (UTC)."""
    at = _set
    return datetime.now(timezone.utc) if at is None else at


def controlled() -> bool:
    return _set is not None


def set_time(at: Optional[datetime]) -> None:
    """Set the clock (None: back to the system clock)."""
    global _set
    _set = at


def timer(at: Optional[datetime]) -> Optional[datetime]:
    """The system time at which to call a timer due at ``at`` of :func:`now`: ``at`` itself
    on the system clock; with a set clock, at once when it is due, else again shortly."""
    if at is None or _set is None:
        return at
    system = datetime.now(timezone.utc)
    return system if at <= _set else system + POLL


def busy() -> None:
    """A keyed step took a batch (with a set clock): whoever moves the clock waits for quiet."""
    global _busy
    _busy = time.monotonic()


def quiet_since() -> float:
    """``time.monotonic()`` of the last :func:`busy`."""
    return _busy
