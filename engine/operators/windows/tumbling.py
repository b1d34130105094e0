"""Tumbling windows: back to back, ``size`` long, aligned to the Unix epoch."""

from __future__ import annotations

from datetime import datetime
from typing import Dict, List, Optional

from engine.operators.windows import bounds
from engine.operators.windows.timed import TimeWindows
from engine.records import DeadLetter


class TumblingWindows(TimeWindows):
    def place(self, timed: list, now: datetime) -> List[DeadLetter]:
        """The general loop (``sliding``), inlined for the most common kind: the watermark is
        kept in a local (same rule as :meth:`advance`) and consecutive events of one window
        reuse it."""
        s, size, lateness = self.s, self.settings.size, self.settings.lateness
        assert size is not None, "a tumbling window has a size"
        event_time = self.settings.event_time is not None
        mark = self.watermark(now) if event_time else None
        groups: Dict[bounds.Window, list] = {}
        deads: List[DeadLetter] = []
        epoch = bounds.EPOCH
        start: Optional[datetime] = None  # the current window (none yet)
        end: datetime = epoch
        group: list = []
        for moment, event in timed:
            closed_before = mark
            if event_time and (mark is None or moment - lateness > mark):
                s.max_event_time, s.max_seen_at = moment, now
                mark = moment - lateness
            if start is None or not start <= moment < end:
                start = epoch + ((moment - epoch) // size) * size
                end = start + size
                group = groups.setdefault((start, end), [])
            if closed_before is not None and end <= closed_before:
                deads.append(self.late(event, moment, (start, end), closed_before))
                continue
            group.append(event)
        return self.fold_groups(groups, deads)
