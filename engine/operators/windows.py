"""Which windows an event belongs to: tumbling, sliding and session windows by time.

Window bounds are aware UTC datetimes, aligned to the Unix epoch, so every worker and every
run assigns the same windows. Count windows and sessions are handled by the aggregate state
because they depend on the events before them, not only on a timestamp.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import List, Tuple

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
Window = Tuple[datetime, datetime]  # [start, end)


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
