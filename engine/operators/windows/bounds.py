"""Window bounds by time: which tumbling or sliding windows a timestamp belongs to.

Window bounds are aware UTC datetimes, aligned to the Unix epoch, so every worker and every
run assigns the same windows. Count windows and sessions are not here: they depend on the
events before them, not only on a timestamp (``count``, ``session``).

Timestamps end at 0001-01-01 and 9999-12-31: an event time so close to either that its
windows (or the watermark arithmetic) would pass them is out of :func:`time_range`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import List, Tuple

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FIRST = datetime.min.replace(tzinfo=timezone.utc)
LAST = datetime.max.replace(tzinfo=timezone.utc)
Window = Tuple[datetime, datetime]  # [start, end)


def time_range(reach: timedelta) -> Tuple[datetime, datetime]:
    """The event times a window can take: ``reach`` is how far from an event time the window
    arithmetic goes (size, every, twice the gap, lateness); a day more for safety."""
    margin = reach + timedelta(days=1)
    if margin * 2 >= LAST - FIRST:
        return LAST, FIRST  # nothing fits
    return FIRST + margin, LAST - margin


def out_of_range(moment: datetime, first: datetime, last: datetime) -> str:
    return (f"event_time {moment.isoformat()} is out of range: its windows would pass the limits of timestamps; "
            f"this window takes event times from {first.isoformat()} to {last.isoformat()}")


def aligned_start(moment: datetime, every: timedelta) -> datetime:
    return EPOCH + ((moment - EPOCH) // every) * every


def tumbling(moment: datetime, size: timedelta) -> List[Window]:
    start = aligned_start(moment, size)
    return [(start, start + size)]


def sliding(moment: datetime, size: timedelta, every: timedelta) -> List[Window]:
    """Every window [start, start + size) with start a multiple of ``every`` containing ``moment``."""
    windows = []
    start = aligned_start(moment, every)
    while start + size > moment:
        windows.append((start, start + size))
        start -= every
    return windows[::-1]
