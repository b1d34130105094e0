"""Session windows: a key's events less than ``gap`` apart make one session; an event
between two sessions merges them. A session closes ``gap`` after its last event."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import List, Optional

from engine.operators.aggregations import reason
from engine.operators.windows import bounds
from engine.operators.windows.timed import TimeWindows
from engine.records import DeadLetter

_END = itemgetter(1)


class SessionWindows(TimeWindows):
    @property
    def close_delay(self) -> timedelta:  # type: ignore[override]
        gap = self.settings.gap
        assert gap is not None, "a session window has a gap"
        return gap

    def result(self, accumulator: list, window: Optional[dict] = None) -> dict:
        """A session's bounds are its events' times: in UTC, as every window's."""
        if window is not None:
            window = {name: bound.astimezone(timezone.utc) for name, bound in window.items()}
        return super().result(accumulator, window)

    def place(self, moments: list, events: list, now: datetime) -> List[DeadLetter]:
        """Events in time order that extend the latest session (the usual case) are gathered
        in a run and folded into it at once; any other event takes :meth:`_place_one`. The
        watermark is kept in a local (the rule of :meth:`advance`, as in ``tumbling``).

        The latest open session is the only one an event at or after its end can join: open
        sessions are at least ``gap`` apart (an event less than ``gap`` from two of them
        merges them), and a closed one is never joined. All the events of a call make one run
        when they are in time order, the first extends the latest open session and the last
        is less than ``gap`` after the first (then each is less than ``gap`` after the one
        before, and the session they extend ends at the one before: it is open)."""
        gap, sessions = self.settings.gap, self.s.windows
        assert gap is not None, "a session window has a gap"
        mark = self.watermark(now) if self.settings.event_time is not None else None
        latest: Optional[bounds.Window] = max(sessions, key=_END) if sessions else None
        if latest is not None:
            end, first, last = latest[1], moments[0], moments[-1]
            if end <= first < end + gap and last - first < gap and (mark is None or end + gap > mark) \
                    and moments == sorted(moments):
                deads: List[DeadLetter] = []
                self._extend(latest, last, moments, events, None, mark, deads)
                self.moved_to(max(moments), mark, now)  # the first of the latest (equal instants may differ in offset)
                return deads
        return self._place_each(moments, events, now, mark, latest)

    def _place_each(self, moments: list, events: list, now: datetime, mark: Optional[datetime],
                    latest: Optional[bounds.Window]) -> List[DeadLetter]:
        """The general loop: runs of events that extend the latest session, and the others."""
        gap, lateness, sessions = self.settings.gap, self.settings.lateness, self.s.windows
        assert gap is not None, "a session window has a gap"
        event_time = self.settings.event_time is not None
        shift = bool(lateness)  # no lateness (the usual case): no datetime arithmetic per event
        moved_by: Optional[datetime] = None  # the event time that last moved the watermark
        deads: List[DeadLetter] = []
        end = latest[1] if latest is not None else bounds.EPOCH  # of the latest session with the run
        # the run extending `latest`: its events, their times and the watermarks before them
        run_moments: list = []
        run_events: list = []
        run_marks: list = []
        for moment, event in zip(moments, events, strict=True):
            closed_before = mark
            if event_time:
                ahead = moment - lateness if shift else moment  # the watermark this event makes
                if mark is None or ahead > mark:
                    mark, moved_by = ahead, moment
            if latest is not None and end <= moment < (limit := end + gap) \
                    and (closed_before is None or limit > closed_before):
                run_moments.append(moment)
                run_events.append(event)
                run_marks.append(closed_before)
                end = moment
                continue
            if run_events:
                self._extend(latest, end, run_moments, run_events, run_marks, None, deads)
                run_moments, run_events, run_marks = [], [], []
            self._place_one(moment, event, closed_before, deads)
            latest = max(sessions, key=_END) if sessions else None
            end = latest[1] if latest is not None else bounds.EPOCH
        if run_events:
            self._extend(latest, end, run_moments, run_events, run_marks, None, deads)
        self.moved(moved_by, now)
        return deads

    def _extend(self, span, end: datetime, moments: list, events: list, marks: Optional[list],
                mark: Optional[datetime], deads: List[DeadLetter]) -> None:
        """Fold a run of events into the session ``span``, which then ends at ``end``; if any
        event of the run fails, the run is placed event by event instead (the reasons, and
        sessions that failed events neither start nor extend), each against the watermark
        before it (``marks``, or from ``mark``, the one before the run)."""
        sessions = self.s.windows
        accumulator, failed = self.step.fold(sessions[span], events)
        if not failed:
            del sessions[span]
            sessions[(span[0], end)] = accumulator
            return
        for moment, event, closed_before in zip(moments, events, marks or self._marks(moments, mark), strict=True):
            self._place_one(moment, event, closed_before, deads)

    def _marks(self, moments: list, mark: Optional[datetime]) -> list:
        """The watermark before each event (the rule of :meth:`advance`)."""
        marks, lateness = [], self.settings.lateness
        for moment in moments:
            marks.append(mark)
            if self.settings.event_time is not None and (mark is None or moment - lateness > mark):
                mark = moment - lateness
        return marks

    def _place_one(self, moment: datetime, event, closed_before: Optional[datetime], deads: List[DeadLetter]) -> None:
        """One event: it starts a session, joins one, or merges those it is less than ``gap`` from."""
        gap, sessions, step = self.settings.gap, self.s.windows, self.step
        assert gap is not None, "a session window has a gap"
        start, end = moment, moment
        # an event joins the open sessions it is less than `gap` away from; a session the
        # watermark has closed is not joined even before it is emitted (same as if it had been)
        absorbed = [w for w in sessions if w[0] - gap < moment < w[1] + gap
                    and (closed_before is None or w[1] + gap > closed_before)]
        if not absorbed and closed_before is not None and moment + gap <= closed_before:
            deads.append(self.late(event, moment, (moment, moment + gap), closed_before))
            return
        accumulator, failed = step.fold(step.fresh(), [event])
        if failed:  # its argument failed: it neither starts nor extends a session
            deads += failed
            return
        parts = sorted([(span, sessions[span]) for span in absorbed] + [((moment, moment), accumulator)],
                       key=lambda part: part[0])
        accumulator = parts[0][1]
        try:
            for _, later in parts[1:]:  # in time order, so first() and last() stay right
                accumulator = step.merge(accumulator, later)
        except Exception as exc:  # noqa: BLE001 - e.g. min() of a str and an int: this event only
            deads.append(DeadLetter(event, step.step_id, reason(exc)))
            return
        for span in absorbed:
            del sessions[span]
        start, end = min(start, parts[0][0][0]), max(end, max(p[0][1] for p in parts))
        sessions[(start, end)] = accumulator
