"""Sliding (hopping) windows: ``size`` long, one starting every ``every``; an event is in
every window that contains it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Dict, List, Optional, Tuple

from engine.operators.windows import bounds
from engine.operators.windows.timed import TimeWindows
from engine.records import DeadLetter


class SlidingWindows(TimeWindows):
    # the windows of the key's latest `every` period, kept between calls (not state): their
    # bounds are reused, and their hashes cached in them (an aware datetime's hash costs ~0.5 us)
    _period: Optional[datetime] = None
    _period_end: datetime = bounds.EPOCH
    _spans: List[bounds.Window] = []

    def place(self, moments: list, events: list, now: datetime) -> List[DeadLetter]:
        """When ``size`` is a multiple of ``every``, the events of one ``every`` period share
        their windows: all the events in one period whose windows are all open (the usual case)
        are folded into them at once, each event's values read once, not once per window.
        (Its earliest window ends with the period, so no earlier event of it closes one.)"""
        size, every = self.settings.size, self.settings.every
        assert size is not None and every is not None, "a sliding window has a size and a period"
        mark = self.watermark(now) if self.settings.event_time is not None else None
        if size % every == timedelta(0):
            lowest, highest = min(moments), max(moments)
            if self._period is None or not self._period <= lowest < self._period_end:
                self._spans = bounds.sliding(lowest, size, every)
                self._period = bounds.aligned_start(lowest, every)
                self._period_end = self._period + every
            if highest < self._period_end and (mark is None or self._spans[0][1] > mark):
                self.moved_to(highest, mark, now)
                return self._fold_runs([(self._spans, events)], [])
        return self._place_each(moments, events, now, mark)

    def _place_each(self, moments: list, events: list, now: datetime, mark: Optional[datetime]) -> List[DeadLetter]:
        """The general loop. The watermark is kept in a local (the rule of :meth:`advance`, as
        in ``tumbling``); consecutive events with the same open windows make a run, folded into
        them at once."""
        size, every, lateness = self.settings.size, self.settings.every, self.settings.lateness
        assert size is not None and every is not None, "a sliding window has a size and a period"
        event_time = self.settings.event_time is not None
        shift = bool(lateness)  # no lateness (the usual case): no datetime arithmetic per event
        latest: Optional[datetime] = None  # the event time that last moved the watermark
        runs: List[Tuple[List[bounds.Window], list]] = []  # (open windows, their events) in arrival order
        run_spans: List[bounds.Window] = []
        run: list = []
        deads: List[DeadLetter] = []
        shared = size % every == timedelta(0)  # every moment of a period is in the same windows
        period, period_end, spans = self._period, self._period_end, self._spans
        for moment, event in zip(moments, events, strict=True):
            closed_before = mark
            if event_time:
                ahead = moment - lateness if shift else moment  # the watermark this event makes
                if mark is None or ahead > mark:
                    mark, latest = ahead, moment
            if not shared or period is None or not period <= moment < period_end:
                spans = bounds.sliding(moment, size, every)
                period = bounds.aligned_start(moment, every)
                period_end = period + every
            if closed_before is None or spans[0][1] > closed_before:  # every window still open
                open_spans = spans
            else:
                open_spans = [w for w in spans if w[1] > closed_before]
                if not open_spans:  # every window of the event closed before
                    deads.append(self.late(event, moment, spans[-1], closed_before))
                    continue
            if open_spans is not run_spans and open_spans != run_spans:
                run_spans, run = open_spans, []
                runs.append((run_spans, run))
            run.append(event)
        if shared:
            self._period, self._period_end, self._spans = period, period_end, spans
        self.moved(latest, now)
        return self._fold_runs(runs, deads)

    def _fold_runs(self, runs: list, deads: List[DeadLetter]) -> List[DeadLetter]:
        """Each run folded into its windows; if a fold fails, the windows' events are folded
        window by window instead (``fold_groups``: the dead letters and their reasons)."""
        windows, step = self.s.windows, self.step
        folded: Dict[bounds.Window, list] = {}
        try:
            for spans, events in runs:
                accumulators = [folded.get(span) or windows.get(span) or step.fresh() for span in spans]
                for span, accumulator in zip(spans, step.fold_many(accumulators, events), strict=True):
                    folded[span] = accumulator
        except Exception:  # noqa: BLE001 - some event fails in some window: found window by window
            groups: Dict[bounds.Window, list] = {}
            for spans, events in runs:
                for span in spans:
                    groups.setdefault(span, []).extend(events)
            return self.fold_groups(groups, deads)
        windows.update(folded)
        return deads
