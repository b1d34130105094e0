"""``interval_join``: a windowed stream-stream join on event time (docs/joins.md).

Each event of ``from`` (the *left* side) is joined with every event of ``with`` (the *right*
side) of the same key whose time lies in ``[left time - before, left time + after]``: one
output event per matching pair, ``{**left, **fields(right)}`` (an inner join, as Flink's
interval join). Both sides are buffered per key for as long as a future event of the other side
could still match them, and no longer.

Time: the key's *watermark* is the latest event time it has seen, minus ``allowed_lateness``,
advanced by the system clock since that event arrived (as Bytewax's ``EventClock``), so the
state of a key that receives nothing more is still freed when its window has passed. An event
older than the watermark can no longer meet what has been freed: it is a dead letter
(``late event``). A left event at ``t`` is kept until the watermark passes ``t + after``, a right
event at ``r`` until it passes ``r + before``; a key holding nothing is forgotten.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from engine.durations import duration_option
from engine.errors import ConfigError
from engine.operators.dead import describe
from engine.operators.expr import compile_option
from engine.operators.fields import Fields, with_fields
from engine.operators.joins.base import Groups, TwoInputStep
from engine.operators.keyed import KeyLogic, Released
from engine.operators.map import key_text
from engine.records import DeadLetter
from engine.values import parse_timestamp

LEFT, RIGHT = 0, 1
FIRST, LAST = datetime.min.replace(tzinfo=timezone.utc), datetime.max.replace(tzinfo=timezone.utc)


class Buffered:
    """One key's events waiting for a match, ``(time, event)`` per side in arrival order, and its
    clock: the latest event time seen and when (system time) it was seen, and the latest system time
    the key saw (``clock``: a restore tells the downtime by it)."""

    __slots__ = ("left", "right", "latest", "seen_at", "clock")

    def __init__(self) -> None:
        self.left: List[Tuple[datetime, dict]] = []
        self.right: List[Tuple[datetime, dict]] = []
        self.latest: Optional[datetime] = None
        self.seen_at: Optional[datetime] = None
        self.clock: Optional[datetime] = None

    def __getstate__(self):
        return (self.left, self.right, self.latest, self.seen_at, self.clock)

    def __setstate__(self, state) -> None:
        self.left, self.right, self.latest, self.seen_at = state[:4]
        self.clock = state[4] if len(state) > 4 else None  # a snapshot from before the clock was kept

    def __len__(self) -> int:
        return len(self.left) + len(self.right)


class IntervalKey(KeyLogic):
    State = Buffered

    def watermark(self, now: datetime) -> Optional[datetime]:
        s = self.s
        if s.latest is None or s.seen_at is None:
            return None
        try:
            return s.latest + max(now - s.seen_at, timedelta(0)) - self.step.lateness
        except OverflowError:  # moved past the last timestamp: everything has closed
            return LAST

    def resume(self, now: datetime) -> None:
        """Restored from a snapshot: the time the flow was down does not move the watermark on (else
        the events replayed after the restart would be late, and what they match already freed)."""
        s = self.s
        if s.clock is not None and now > s.clock:
            if s.seen_at is not None:
                s.seen_at += now - s.clock
            s.clock = now

    def add(self, pairs: list, now: datetime) -> Released:
        step, s = self.step, self.s
        out: List[dict] = []
        dead: List[DeadLetter] = []
        for (side, at), event in pairs:
            mark = self.watermark(now)
            if mark is not None and at < mark:
                dead.append(DeadLetter(event, step.step_id, f"late event: time {at.isoformat()} is before the "
                                                            f"watermark {mark.isoformat()} of its key"))
                continue
            if side == LEFT:
                low, high = at - step.before, at + step.after
                out += [step.joined(event, right) for when, right in s.right if low <= when <= high]
                s.left.append((at, event))
            else:
                low, high = at - step.after, at + step.before  # the left times this right event matches
                out += [step.joined(left, event) for when, left in s.left if low <= when <= high]
                s.right.append((at, event))
            if s.latest is None or at > s.latest:
                s.latest, s.seen_at = at, now
        self._free(now)
        return out, dead

    def due(self, now: datetime) -> Released:
        self._free(now)
        return [], []

    def flush(self) -> Released:
        self.s.left, self.s.right = [], []
        return [], []

    def _free(self, now: datetime) -> None:
        if self.s.clock is None or now > self.s.clock:
            self.s.clock = now
        mark = self.watermark(now)
        if mark is None:
            return
        s, step = self.s, self.step
        if s.left:
            s.left = [(t, e) for t, e in s.left if t + step.after >= mark]
        if s.right:
            s.right = [(t, e) for t, e in s.right if t + step.before >= mark]

    def next_notification(self) -> Optional[datetime]:
        """When the system clock will have moved the watermark past the earliest buffered event."""
        s, step = self.s, self.step
        ends = [t + step.after for t, _ in s.left[:1]] + [t + step.before for t, _ in s.right[:1]]
        if not ends or s.latest is None or s.seen_at is None:
            return None
        try:
            return s.seen_at + (min(ends) - s.latest) + step.lateness + timedelta(microseconds=1)
        except OverflowError:  # an end long before the latest time: due already
            return s.seen_at

    @property
    def disposable(self) -> bool:
        return not self.s.left and not self.s.right


class IntervalJoin(TwoInputStep):
    """Compiles the options; the compiler wires it as a two-input keyed step (``kind = "join"``)."""

    side = "with"
    Logic = IntervalKey

    def __init__(self, step_id: str, config: dict, input_fields: Fields, sides: Optional[Dict[str, Fields]] = None
                 ) -> None:
        self.step_id = step_id
        right_fields = (sides or {}).get("with")
        self.on = compile_option(config["on"], input_fields, ("on",))
        self.with_key = compile_option(config["with_key"], right_fields, ("with_key",))
        self.time = compile_option(config["time"], input_fields, ("time",))
        self.with_time = compile_option(config["with_time"], right_fields, ("with_time",))
        self.before = self._duration(config, "before")
        self.after = self._duration(config, "after")
        self.lateness = self._duration(config, "allowed_lateness")
        try:  # how far from an event time the state computes
            reach = max(self.before, self.after) + self.lateness
        except OverflowError:
            reach = timedelta.max
        if reach >= (LAST - FIRST) / 2:  # no event time would be far enough from both ends
            raise ConfigError(f"the interval and the allowed lateness reach {reach.days} days from an event time, "
                              "more than half the range of timestamps", ("allowed_lateness",),
                              hint="durations of at most a few thousand years")
        self._earliest, self._last = FIRST + reach, LAST - reach
        self.fields = {name: compile_option(text, right_fields, ("fields", name))
                       for name, text in config["fields"].items()}
        added = {name: expression.type for name, expression in self.fields.items()}
        self.output_fields = with_fields(input_fields, added) if input_fields is not None else None

    @staticmethod
    def _duration(config: dict, option: str) -> timedelta:
        text = config.get(option, "0s")
        if text in ("0s", "0ms", "0m", "0h", "0d", 0):
            return timedelta(0)
        return duration_option(text, (option,))

    def joined(self, left: dict, right: dict) -> dict:
        return {**left, **{name: expression(right) for name, expression in self.fields.items()}}

    def group(self, batch: list) -> Groups:
        return self._group(batch, LEFT, self.on, self.time, "on", "time")

    def group_side(self, batch: list) -> Groups:
        return self._group(batch, RIGHT, self.with_key, self.with_time, "with_key", "with_time")

    def _group(self, batch: list, side: int, key_of, time_of, key_option: str, time_option: str) -> Groups:
        groups: Dict[str, list] = {}
        deads: List[DeadLetter] = []
        for event in batch:
            try:
                key = key_of(event)
            except Exception as exc:  # noqa: BLE001 - this event, not the batch
                deads.append(DeadLetter(event, self.step_id, f"{key_option}: {describe(exc)}"))
                continue
            try:
                at = _time(time_of(event))
                if not self._earliest <= at <= self._last:
                    raise ValueError(f"the event time {at.isoformat()} is too close to the limits of timestamps "
                                     "for the interval and the allowed lateness")
            except Exception as exc:  # noqa: BLE001
                deads.append(DeadLetter(event, self.step_id, f"{time_option}: {describe(exc)}"))
                continue
            if key is None:
                continue  # a null key meets nothing (an inner join)
            groups.setdefault(key_text(key), []).append(((side, at), event))
        return list(groups.items()), deads


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("the event time has no time zone")
        return value
    if isinstance(value, str):
        return parse_timestamp(value)
    raise ValueError(f"the event time is {value!r}, not a timestamp")
