"""Session windows: a key's events less than ``gap`` apart make one session; an event
between two sessions merges them. A session closes ``gap`` after its last event."""

from __future__ import annotations

from datetime import datetime
from typing import List

from engine.operators.dead import describe
from engine.operators.windows import bounds
from engine.operators.windows.timed import TimeWindows
from engine.records import DeadLetter


class SessionWindows(TimeWindows):
    def close_time(self, span: bounds.Window) -> datetime:
        gap = self.settings.gap
        assert gap is not None, "a session window has a gap"
        return span[1] + gap

    def place(self, timed: list, now: datetime) -> List[DeadLetter]:
        gap, deads, sessions, step = self.settings.gap, [], self.s.windows, self.step
        for moment, event in timed:
            closed_before = self.closed_before(now)
            self.advance(moment, now)
            start, end = moment, moment
            # an event joins the open sessions it is less than `gap` away from; a session the
            # watermark has closed is not joined even before it is emitted (same as if it had been)
            absorbed = [w for w in sessions if w[0] - gap < moment < w[1] + gap
                        and (closed_before is None or w[1] + gap > closed_before)]
            if not absorbed and closed_before is not None and moment + gap <= closed_before:
                deads.append(self.late(event, moment, (moment, moment + gap), closed_before))
                continue
            accumulator, failed = step.fold(step.fresh(), [event])
            if failed:  # its argument failed: it neither starts nor extends a session
                deads += failed
                continue
            parts = sorted([(span, sessions[span]) for span in absorbed] + [((moment, moment), accumulator)],
                           key=lambda part: part[0])
            accumulator = parts[0][1]
            try:
                for _, later in parts[1:]:  # in time order, so first() and last() stay right
                    accumulator = step.merge(accumulator, later)
            except Exception as exc:  # noqa: BLE001 - e.g. min() of a str and an int: this event only
                deads.append(DeadLetter(event, step.step_id, describe(exc)))
                continue
            for span in absorbed:
                del sessions[span]
            start, end = min(start, parts[0][0][0]), max(end, max(p[0][1] for p in parts))
            sessions[(start, end)] = accumulator
        return deads
