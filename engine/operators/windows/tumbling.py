"""Tumbling windows: back to back, ``size`` long, aligned to the Unix epoch."""

from __future__ import annotations

from datetime import datetime
from typing import Dict, List, Optional

from engine.operators.windows import bounds
from engine.operators.windows.timed import TimeWindows
from engine.records import DeadLetter


class TumblingWindows(TimeWindows):
    # the key's latest window, kept between calls (not state): its bounds are reused, not
    # recomputed, and their hashes are cached in them (an aware datetime's hash costs ~0.5 us)
    _span: Optional[bounds.Window] = None

    def place(self, moments: list, events: list, now: datetime) -> List[DeadLetter]:
        """All the events in one window that is still open (the usual case): folded at once.
        Else the general loop (``sliding``), inlined for the most common kind: the watermark is
        kept in a local (same rule as :meth:`advance`) and consecutive events of one window
        reuse it. (An event is late only if its window closed before it: before the call, or
        by an earlier event's time, which is in the window too in the usual case.)"""
        size = self.settings.size
        assert size is not None, "a tumbling window has a size"
        mark = self.watermark(now) if self.settings.event_time is not None else None
        lowest, highest = min(moments), max(moments)
        span = self._span
        if span is None or not span[0] <= lowest < span[1]:
            start = bounds.aligned_start(lowest, size)
            span = (start, start + size)
        if highest < span[1] and (mark is None or span[1] > mark):
            self._span = span
            self.moved_to(highest, mark, now)
            return self.fold_groups({span: events}, [])
        return self._place_each(moments, events, now, mark)

    def _place_each(self, moments: list, events: list, now: datetime, mark: Optional[datetime]) -> List[DeadLetter]:
        size, lateness = self.settings.size, self.settings.lateness
        assert size is not None, "a tumbling window has a size"
        event_time = self.settings.event_time is not None
        shift = bool(lateness)  # no lateness (the usual case): no datetime arithmetic per event
        latest: Optional[datetime] = None  # the event time that last moved the watermark
        groups: Dict[bounds.Window, list] = {}
        deads: List[DeadLetter] = []
        span = self._span
        start, end = span if span is not None else (None, bounds.EPOCH)
        group: Optional[list] = None  # the events of `span` in this call
        for moment, event in zip(moments, events, strict=True):
            closed_before = mark
            if event_time:
                ahead = moment - lateness if shift else moment  # the watermark this event makes
                if mark is None or ahead > mark:
                    mark, latest = ahead, moment
            if start is None or not start <= moment < end:
                start = bounds.aligned_start(moment, size)
                end = start + size
                span = (start, end)
                group = None
            if closed_before is not None and end <= closed_before:
                deads.append(self.late(event, moment, (start, end), closed_before))
                continue
            if group is None:
                group = groups.setdefault(span, [])  # type: ignore[arg-type]
            group.append(event)
        self._span = span
        self.moved(latest, now)
        return self.fold_groups(groups, deads)
