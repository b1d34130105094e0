"""Sliding (hopping) windows: ``size`` long, one starting every ``every``; an event is in
every window that contains it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Dict, List, Optional

from engine.operators.windows import bounds
from engine.operators.windows.timed import TimeWindows
from engine.records import DeadLetter


class SlidingWindows(TimeWindows):
    def place(self, timed: list, now: datetime) -> List[DeadLetter]:
        """The watermark is kept in a local (the rule of :meth:`advance`, as in ``tumbling``);
        when ``size`` is a multiple of ``every``, the events of one ``every`` period share
        their windows, so consecutive events of a period reuse the window lists."""
        s, lateness = self.s, self.settings.lateness
        size, every = self.settings.size, self.settings.every
        assert size is not None and every is not None, "a sliding window has a size and a period"
        event_time = self.settings.event_time is not None
        mark = self.watermark(now) if event_time else None
        groups: Dict[bounds.Window, list] = {}
        deads: List[DeadLetter] = []
        shared = size % every == timedelta(0)  # every moment of a period is in the same windows
        period: Optional[datetime] = None  # the period of the windows in `spans` (none yet)
        period_end = bounds.EPOCH
        spans: List[bounds.Window] = []
        lists: List[list] = []
        for moment, event in timed:
            closed_before = mark
            if event_time and (mark is None or moment - lateness > mark):
                s.max_event_time, s.max_seen_at = moment, now
                mark = moment - lateness
            if not shared or period is None or not period <= moment < period_end:
                spans = bounds.sliding(moment, size, every)
                lists = [groups.setdefault(span, []) for span in spans]
                period = bounds.aligned_start(moment, every)
                period_end = period + every
            if closed_before is None or spans[0][1] > closed_before:  # every window still open
                for group in lists:
                    group.append(event)
                continue
            open_spans = [w for w in spans if w[1] > closed_before]
            if not open_spans:  # every window of the event closed before
                deads.append(self.late(event, moment, spans[-1], closed_before))
                continue
            for span in open_spans:
                groups[span].append(event)
        return self.fold_groups(groups, deads)
