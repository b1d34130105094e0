"""Sliding (hopping) windows: ``size`` long, one starting every ``every``; an event is in
every window that contains it."""

from __future__ import annotations

from datetime import datetime
from typing import Dict, List

from engine.operators.windows import bounds
from engine.operators.windows.timed import TimeWindows
from engine.records import DeadLetter


class SlidingWindows(TimeWindows):
    def place(self, timed: list, now: datetime) -> List[DeadLetter]:
        groups: Dict[bounds.Window, list] = {}
        deads = []
        size, every = self.settings.size, self.settings.every
        assert size is not None and every is not None, "a sliding window has a size and a period"
        for moment, event in timed:
            closed_before = self.closed_before(now)
            self.advance(moment, now)
            spans = bounds.sliding(moment, size, every)
            open_spans = [w for w in spans if closed_before is None or w[1] > closed_before]
            if not open_spans:  # every window of the event closed before: there is a watermark
                assert closed_before is not None
                deads.append(self.late(event, moment, spans[-1], closed_before))
                continue
            for span in open_spans:
                groups.setdefault(span, []).append(event)
        return self.fold_groups(groups, deads)
