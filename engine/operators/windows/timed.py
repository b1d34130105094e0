"""What the time-based window kinds (tumbling, sliding, session) share: the key's open
windows, the event-time watermark, and releasing the windows it has passed.

``now`` (system time) is passed in, so tests can drive time. Event-time watermark: the
largest event time seen, minus ``allowed_lateness``, advanced by the system time elapsed
since it arrived (as Bytewax's ``EventClock``), so idle keys still close their windows.
With processing time the watermark is ``now``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Dict, List, Optional

from engine.operators.dead import describe
from engine.operators.keyed import Released
from engine.operators.windows import bounds
from engine.operators.windows.base import AggregateState, WindowLogic
from engine.records import DeadLetter

_END = itemgetter(1)  # a window's end


@dataclass
class TimeState(AggregateState):
    """One state for the three time-based kinds: they remember the same things."""

    windows: Dict[bounds.Window, list] = field(default_factory=dict)  # open window -> accumulator
    max_event_time: Optional[datetime] = None  # the event time that last moved the watermark
    max_seen_at: Optional[datetime] = None  # system time when max_event_time arrived
    clock: Optional[datetime] = None  # latest system time this key saw (never goes back)


class TimeWindows(WindowLogic):
    State = TimeState

    def take(self, pairs: list, now: datetime) -> Released:
        now = self._tick(now)
        moments, events, deads = self._timed(pairs, now)
        if events:
            deads += self.place(moments, events, now)
        results, failed = self.due(now)
        return results, deads + failed

    @abstractmethod
    def place(self, moments: list, events: list, now: datetime) -> List[DeadLetter]:
        """Fold the events (at least one), at ``moments``, into their windows; dead letters of
        late or failing events."""

    close_delay = timedelta(0)  # a window closes when the watermark passes its end plus this

    def close_time(self, span: bounds.Window) -> datetime:
        """When the watermark passes this, the window is released."""
        return span[1] + self.close_delay

    # -- events -------------------------------------------------------------------------
    def _timed(self, pairs: list, now: datetime):
        """The events' times and the events, in arrival order; dead letters for missing times."""
        events = [event for _, event in pairs]
        extract = self.settings.event_time
        if extract is None:
            return [now] * len(events), events, []
        step = self.step
        first, last = step.time_range
        try:
            moments = step.times(events)  # the usual case, fast: aware timestamps in range
            if first <= min(moments) and max(moments) <= last:  # (TypeError if not all aware)
                return moments, events, []
        except Exception:  # noqa: BLE001 - some event's time fails: find it below
            pass
        moments, kept, deads = [], [], []
        for event in events:
            try:
                moment = _as_utc(extract(event))
            except Exception as exc:  # noqa: BLE001
                deads.append(DeadLetter(event, step.step_id, f"event_time: {describe(exc)}"))
                continue
            if not first <= moment <= last:
                deads.append(DeadLetter(event, step.step_id, bounds.out_of_range(moment, first, last)))
                continue
            moments.append(moment)
            kept.append(event)
        return moments, kept, deads

    def advance(self, moment: datetime, now: datetime) -> None:
        """An event has been taken: it moves the event-time watermark forward when its time,
        less the lateness, is past the watermark now (as Bytewax's ``EventClock``), so the
        watermark never goes back and no window is ever emitted twice."""
        if self.settings.event_time is None:
            return
        mark = None if self.s.max_event_time is None else self.watermark(now)
        if mark is None or moment - self.settings.lateness > mark:
            self.s.max_event_time, self.s.max_seen_at = moment, now

    def moved_to(self, highest: datetime, mark: Optional[datetime], now: datetime) -> None:
        """After a call where no event was late: the first of its latest event times moves the
        watermark (``mark`` before the call) if it passes it (the rule of :meth:`advance`)."""
        if self.settings.event_time is not None:
            lateness = self.settings.lateness
            if mark is None or (highest - lateness if lateness else highest) > mark:
                self.moved(highest, now)

    def moved(self, latest: Optional[datetime], now: datetime) -> None:
        """After a ``place`` loop that kept the watermark in a local (the rule of :meth:`advance`):
        ``latest``, the event time that last moved it, if any, is remembered."""
        if latest is not None:
            self.s.max_event_time, self.s.max_seen_at = latest, now

    def fold_groups(self, groups: dict, deads: List[DeadLetter]) -> List[DeadLetter]:
        """Fold each window's new events (in arrival order) into its accumulator; ``deads`` plus
        the failures. A window none of whose events folded is not opened. An event of several
        windows (sliding) that fails in one is folded in none: :meth:`_fold_each`."""
        windows, step = self.s.windows, self.step
        folded: Dict[bounds.Window, list] = {}
        failures: List[DeadLetter] = []
        for span, events in groups.items():
            if not events:  # a tumbling window whose events were all late
                continue
            before = windows.get(span)
            accumulator, failed = step.fold(before or step.fresh(), events)
            if before is not None or len(failed) < len(events):
                folded[span] = accumulator
            failures += failed
        if failures and len(groups) > 1:  # sliding: an event fails in each of its windows, or in some
            failed_in = Counter(id(d.event) for d in failures)
            if Counter(id(event) for events in groups.values() for event in events if id(event) in failed_in) \
                    != failed_in:
                return self._fold_each(groups, deads)
            first: Dict[int, DeadLetter] = {}
            for dead in failures:  # each event once
                first.setdefault(id(dead.event), dead)
            failures = list(first.values())
        windows.update(folded)
        return deads + failures

    def _fold_each(self, groups: dict, deads: List[DeadLetter]) -> List[DeadLetter]:
        """The events one at a time, in arrival order (each window's list keeps it): an event
        is folded into all its windows, or, if it fails in one, dead-lettered once and folded
        in none."""
        windows, step = self.s.windows, self.step
        keys: Dict[bounds.Window, list] = {}  # per window, its events as (id, occurrence): the same
        spans_of: Dict[tuple, list] = {}  # event object may come twice
        for span, events in groups.items():
            seen: Counter[int] = Counter()
            for event in events:
                seen[id(event)] += 1
                keys.setdefault(span, []).append((id(event), seen[id(event)]))
                spans_of.setdefault((id(event), seen[id(event)]), []).append(span)
        heads = {span: 0 for span in keys}
        folded: Dict[bounds.Window, list] = {}
        progress = True
        while progress:  # take an event at the head of all its windows' lists: the earliest left
            progress = False
            for span, events in groups.items():
                while heads.get(span, 0) < len(events):
                    key = keys[span][heads[span]]
                    spans = spans_of[key]
                    if any(keys[other][heads[other]] != key for other in spans):
                        break
                    progress = True
                    for other in spans:
                        heads[other] += 1
                    event, accumulators = events[heads[span] - 1], []
                    for other in spans:
                        accumulator, failed = step.fold(folded.get(other) or windows.get(other) or step.fresh(),
                                                        [event])
                        if failed:
                            deads += failed
                            break
                        accumulators.append(accumulator)
                    else:
                        folded.update(zip(spans, accumulators, strict=True))
        windows.update(folded)
        return deads

    def late(self, event: dict, moment: datetime, span, watermark: datetime) -> DeadLetter:
        return DeadLetter(event, self.step.step_id,
                          f"late event: event time {moment.isoformat()} is in window "
                          f"[{span[0].isoformat()}, {span[1].isoformat()}), "
                          f"closed at watermark {watermark.isoformat()}")

    # -- time -----------------------------------------------------------------------------
    def watermark(self, now: datetime) -> Optional[datetime]:
        if self.settings.event_time is None:
            return now
        if self.s.max_event_time is None:
            return None
        try:
            return self.s.max_event_time - self.settings.lateness + (now - self.s.max_seen_at)
        except OverflowError:  # advanced past the last timestamp: every window has closed
            return bounds.LAST

    def closed_before(self, now: datetime) -> Optional[datetime]:
        """Windows closing at or before this are closed: the event-time watermark now (the
        same one :meth:`due` uses, so a window is never emitted twice)."""
        if self.settings.event_time is None:
            return None
        return self.watermark(now)

    def _tick(self, now: datetime) -> datetime:
        """The system time, kept from going back (NTP steps, clock changes)."""
        if self.s.clock is not None and now < self.s.clock:
            return self.s.clock
        self.s.clock = now
        return now

    def resume(self, now: datetime) -> None:
        """State restored from a snapshot: the time the flow was down does not advance the
        event-time watermark (else every replayed event of an open window would be late)."""
        if self.s.clock is not None and now > self.s.clock:
            if self.s.max_seen_at is not None:
                self.s.max_seen_at += now - self.s.clock
            self.s.clock = now

    def due(self, now: datetime) -> Released:
        """Results of the windows the watermark has passed, oldest first; they are forgotten."""
        now = self._tick(now)
        mark = self.watermark(now)
        if mark is None:
            return [], []
        limit = mark - self.close_delay  # (a window's close time, less its delay, is its end)
        return self._emit([w for w in self.s.windows if w[1] <= limit]), []

    def flush(self) -> Released:
        """End of input: every open window."""
        return self._emit(list(self.s.windows)), []

    def _emit(self, spans) -> List[dict]:
        results = []
        for span in sorted(spans):
            accumulator = self.s.windows.pop(span)
            results.append(self.result(accumulator, {"window_start": span[0], "window_end": span[1]}))
        return results

    def next_notification(self) -> Optional[datetime]:
        """System time at which the earliest open window closes (for a Bytewax timer)."""
        if not self.s.windows:
            return None
        earliest = self.close_time(min(self.s.windows, key=_END))
        if self.settings.event_time is None:
            return earliest
        if self.s.max_event_time is None:
            return None
        return self.s.max_seen_at + (earliest - (self.s.max_event_time - self.settings.lateness))

    @property
    def disposable(self) -> bool:
        """Nothing left to remember: processing-time windows all closed. (Event-time state
        keeps the watermark, so late events stay detectable.)"""
        return self.settings.event_time is None and not self.s.windows


def _as_utc(value) -> datetime:
    if value is None:
        raise ValueError("null")
    if not isinstance(value, datetime):  # (a subclass is taken, as the batch's quick read takes it)
        raise TypeError(f"expected a timestamp, got {type(value).__name__} {value!r:.40}")
    # a tzinfo that gives no offset makes the time naive (Python compares it so): UTC too
    return value if value.utcoffset() is not None else value.replace(tzinfo=timezone.utc)
