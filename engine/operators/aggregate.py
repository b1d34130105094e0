"""``aggregate``: a per-key stateful fold, running or windowed (docs/aggregate.md).

The operator compiles its configuration once: the key expression, one fused ``fold`` function
that updates every aggregation of a key for a list of events, and ``merge``/``result``
functions. The per-key state (:class:`KeyState`) is plain data, so Bytewax can snapshot it;
:class:`KeyAggregator` holds the logic that moves a key's state forward in time and is what
the compiler wraps in a Bytewax ``StatefulBatchLogic``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

from engine.errors import ConfigError
from engine.hints import did_you_mean
from engine.operators import windows
from engine.operators.aggregations import AGGREGATIONS, check_argument_type, fold_functions, initial
from engine.operators.codegen import build_function
from engine.operators.dead import describe
from engine.durations import HINT as DURATION_HINT
from engine.durations import parse_duration
from engine.operators.expr import compile_option
from engine.operators.map import KEY_FIELD, key_text
from engine.records import DeadLetter

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)
WINDOW_KINDS = ("tumbling", "sliding", "session", "count")


@dataclass
class Settings:
    """The parsed ``window`` and ``emit`` options."""

    kind: Optional[str] = None  # None: one running result per key
    size: Optional[timedelta] = None
    every: Optional[timedelta] = None
    gap: Optional[timedelta] = None
    count: Optional[int] = None
    event_time: Any = None  # compiled expression, or None for processing time
    lateness: timedelta = timedelta(0)
    emit: str = "updates"


@dataclass
class KeyState:
    """Everything Bytewax snapshots for one key: plain, picklable data."""

    key: Any = None  # the key's value as the key expression gave it
    running: Optional[list] = None  # accumulator without windows
    changed: bool = False
    windows: Dict[Tuple[datetime, datetime], list] = field(default_factory=dict)
    max_event_time: Optional[datetime] = None  # the event time that last moved the watermark
    max_seen_at: Optional[datetime] = None  # system time when max_event_time arrived
    clock: Optional[datetime] = None  # latest system time this key saw (never goes back)
    seen: int = 0  # events counted into the current count window
    count_index: int = 0


class Aggregate:
    """Compiles ``key``, ``compute`` and ``window``; builds per-key aggregators."""

    kind = "keyed"

    def __init__(self, step_id: str, config: dict, input_fields, context=None) -> None:
        self.step_id = step_id
        key_text_option = config.get("key")
        self.key = compile_option(key_text_option, input_fields, ("key",)) if key_text_option else None
        self.key_name = _key_name(key_text_option)
        self.settings = _settings(config, input_fields)
        slots, arg_types = self._compile_compute(config["compute"], input_fields)
        self.slots = slots
        self._fold, self._merge, self._result = fold_functions(step_id, slots)
        self._key_of = self._key_function(step_id)
        self._times = None
        settings = self.settings
        self.time_range = windows.time_range(settings.lateness + 2 * (settings.gap or timedelta(0))
                                             + (settings.size or timedelta(0)) + (settings.every or timedelta(0)))
        if self.settings.event_time is not None:  # every event time of a list of events, in one loop
            self._times = build_function(
                "times", f"def times(events):\n    return [({self.settings.event_time.python}) for e in events]\n", step_id)
        self.output_fields = self._output_fields(arg_types, input_fields)

    # -- configuration ----------------------------------------------------------------
    def _compile_compute(self, compute: dict, fields) -> Tuple[list, Dict[str, str]]:
        slots, types = [], {}
        for name, text in compute.items():
            match = _CALL.match(str(text))
            if match is None:
                raise ConfigError(f"'{text}' is not an aggregation call", ("compute", name),
                                  hint="write e.g. sum(weight_kg), count() or max(price)")
            function, argument = match.group(1), match.group(2).strip()
            aggregation = AGGREGATIONS.get(function)
            if aggregation is None:
                raise ConfigError(f"unknown aggregation '{function}'", ("compute", name), offset=match.start(1),
                                  hint=did_you_mean(function, AGGREGATIONS) or "aggregations: " + ", ".join(AGGREGATIONS))
            expression = self._argument(name, text, match, aggregation, argument, fields)
            check_argument_type(name, match, aggregation, expression)
            slots.append((name, aggregation, expression))
            types[name] = aggregation.result_type(expression.type if expression is not None else "any")
        return slots, types

    @staticmethod
    def _argument(name, text, match, aggregation, argument, fields):
        if not argument:
            if aggregation.takes_argument:
                raise ConfigError(f"{aggregation.name}() needs an argument", ("compute", name),
                                  hint=f"e.g. {aggregation.name}(weight_kg)")
            return None
        try:
            return compile_option(argument, fields, ("compute", name))
        except ConfigError as exc:
            offset = None if exc.offset is None else exc.offset + match.start(2) + (len(match.group(2)) - len(match.group(2).lstrip()))
            raise ConfigError(exc.message, exc.path, offset=offset, hint=exc.hint) from None

    def _key_function(self, step_id: str) -> Callable:
        source = self.key.python if self.key is not None else f"e.get({KEY_FIELD!r})"
        return build_function("key_of", f"def key_of(e):\n    return {source}\n", step_id)

    def _output_fields(self, result_types: Dict[str, str], input_fields) -> Dict[str, str]:
        out = {self.key_name: self.key.type if self.key is not None else "str"}
        if self.settings.kind == "count":
            out["window_index"] = "int"
        elif self.settings.kind is not None:
            out.update(window_start="timestamp", window_end="timestamp")
        out.update(result_types)
        out[KEY_FIELD] = "str"
        return out

    # -- per batch ----------------------------------------------------------------------
    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """Split a batch into ``(key text, events)`` pairs; events without a key are dead letters."""
        groups: Dict[str, list] = {}
        deads: List[DeadLetter] = []
        key_of = self._key_of
        for event in batch:
            try:
                value = key_of(event)
                text = key_text(value)
            except Exception as exc:  # noqa: BLE001 - this event's key, not the batch
                deads.append(DeadLetter(event, self.step_id, f"key: {describe(exc)}"))
                continue
            if value is None:
                deads.append(DeadLetter(event, self.step_id, "the aggregation key is null"))
                continue
            groups.setdefault(text, []).append((value, event))
        return list(groups.items()), deads

    def logic(self, state: Optional[KeyState] = None) -> "KeyAggregator":
        """The per-key logic the compiler drives (see engine/compiler/keyed.py)."""
        return self.aggregator(state)

    def aggregator(self, state: Optional[KeyState] = None) -> "KeyAggregator":
        return KeyAggregator(self, state or KeyState())

    def fresh(self) -> list:
        return [init for _, aggregation, _ in self.slots for init in initial(aggregation)]

    def fold(self, accumulator: list, events: list) -> Tuple[list, List[DeadLetter]]:
        """Fold ``events`` in; if one makes an expression fail, only that event is dead-lettered."""
        try:
            return self._fold(accumulator, events), []
        except Exception:  # noqa: BLE001 - find the failing events one by one
            deads = []
            for event in events:
                try:
                    accumulator = self._fold(accumulator, [event])
                except Exception as exc:  # noqa: BLE001
                    deads.append(DeadLetter(event, self.step_id, describe(exc)))
            return accumulator, deads

    def merge(self, earlier: list, later: list) -> list:
        return self._merge(earlier, later)

    def result(self, key, accumulator: list, window: Optional[dict] = None) -> dict:
        out = {self.key_name: key, **(window or {})}
        out.update(self._result(accumulator))
        out[KEY_FIELD] = key_text(key)
        return out


class KeyAggregator:
    """Moves one key's state forward: new events, timers, end of input.

    ``now`` (system time) is passed in, so tests can drive time. Event-time watermark: the
    largest event time seen, minus ``allowed_lateness``, advanced by the system time elapsed
    since it arrived (as Bytewax's ``EventClock``), so idle keys still close their windows.
    """

    def __init__(self, aggregate: Aggregate, state: KeyState) -> None:
        self.agg = aggregate
        self.s = state
        self.settings = aggregate.settings

    # -- events -------------------------------------------------------------------------
    def add(self, pairs: List[tuple], now: datetime) -> Tuple[List[dict], List[DeadLetter]]:
        """Take ``(key value, event)`` pairs; return results due now and dead letters."""
        if self.s.key is None:
            self.s.key = pairs[0][0]
        now = self._tick(now)
        events = [event for _, event in pairs]
        kind = self.settings.kind
        if kind is None:
            return self._running(events)
        if kind == "count":
            return self._counted(events)
        timed, deads = self._timed(events, now)
        if kind == "session":
            deads += self._sessions(timed, now)
        else:
            deads += self._windowed(timed, now)
        results, failed = self.due(now)
        return results, deads + failed

    def _running(self, events: list):
        accumulator = self.s.running if self.s.running is not None else self.agg.fresh()
        self.s.running, deads = self.agg.fold(accumulator, events)
        self.s.changed = True
        if self.settings.emit == "updates":
            self.s.changed = False
            return [self.agg.result(self.s.key, self.s.running)], deads
        return [], deads

    def _counted(self, events: list):
        results, deads, size = [], [], self.settings.count
        while events:
            take = size - self.s.seen
            chunk, events = events[:take], events[take:]
            accumulator = self.s.running if self.s.running is not None else self.agg.fresh()
            self.s.running, failed = self.agg.fold(accumulator, chunk)
            deads += failed
            self.s.seen += len(chunk) - len(failed)
            if self.s.seen >= size:
                results.append(self._count_result())
        return results, deads

    def _count_result(self) -> dict:
        result = self.agg.result(self.s.key, self.s.running, {"window_index": self.s.count_index})
        self.s.running, self.s.seen = None, 0
        self.s.count_index += 1
        return result

    def _timed(self, events: list, now: datetime):
        """``(time, event)`` of each event, in arrival order; dead letters for missing times."""
        extract = self.settings.event_time
        if extract is None:
            return [(now, event) for event in events], []
        try:
            moments = self.agg._times(events)
        except Exception:  # noqa: BLE001 - some event's time fails: find it below
            moments = [_MISSING] * len(events)
        timed, deads = [], []
        first, last = self.agg.time_range
        for moment, event in zip(moments, events):
            try:
                if first <= moment <= last:  # the usual case, fast: an aware timestamp in range
                    timed.append((moment, event))
                    continue
            except TypeError:  # not an aware timestamp
                pass
            try:
                moment = _as_utc(extract(event) if moment is _MISSING else moment)
            except Exception as exc:  # noqa: BLE001
                deads.append(DeadLetter(event, self.agg.step_id, f"event_time: {describe(exc)}"))
                continue
            if not first <= moment <= last:
                deads.append(DeadLetter(event, self.agg.step_id, windows.out_of_range(moment, first, last)))
                continue
            timed.append((moment, event))
        return timed, deads

    def _advance(self, moment: datetime, now: datetime) -> None:
        """An event has been taken: it moves the event-time watermark forward when its time,
        less the lateness, is past the watermark now (as Bytewax's ``EventClock``), so the
        watermark never goes back and no window is ever emitted twice."""
        if self.settings.event_time is None:
            return
        if self.s.max_event_time is None or moment - self.settings.lateness > self.watermark(now):
            self.s.max_event_time, self.s.max_seen_at = moment, now

    def _windowed(self, timed: list, now: datetime) -> List[DeadLetter]:
        if self.settings.kind == "tumbling":
            return self._fold_groups(*self._tumbling(timed, now))
        groups: Dict[Tuple[datetime, datetime], list] = {}
        deads = []
        for moment, event in timed:
            closed_before = self._closed_before(now)
            self._advance(moment, now)
            spans = self._spans(moment)
            open_spans = [w for w in spans if closed_before is None or w[1] > closed_before]
            if not open_spans:
                deads.append(self._late(event, moment, spans[-1], closed_before))
                continue
            for span in open_spans:
                groups.setdefault(span, []).append(event)
        return self._fold_groups(groups, deads)

    def _tumbling(self, timed: list, now: datetime):
        """:meth:`_windowed` for tumbling windows, inlined: the watermark is kept in a local
        (same rule as :meth:`_advance`) and consecutive events of one window reuse it."""
        s, size, lateness = self.s, self.settings.size, self.settings.lateness
        event_time = self.settings.event_time is not None
        mark = self.watermark(now) if event_time else None
        groups: Dict[Tuple[datetime, datetime], list] = {}
        deads: List[DeadLetter] = []
        start = end = group = None
        epoch = windows.EPOCH
        for moment, event in timed:
            closed_before = mark
            if event_time and (mark is None or moment - lateness > mark):
                s.max_event_time, s.max_seen_at = moment, now
                mark = moment - lateness
            if start is None or not start <= moment < end:
                start = epoch + ((moment - epoch) // size) * size
                end = start + size
                group = groups.get((start, end))
                if group is None:
                    group = groups[(start, end)] = []
            if closed_before is not None and end <= closed_before:
                deads.append(self._late(event, moment, (start, end), closed_before))
                continue
            group.append(event)
        return groups, deads

    def _fold_groups(self, groups: dict, deads: List[DeadLetter]) -> List[DeadLetter]:
        failed_ids = set()
        for span, events in groups.items():
            if not events:  # a tumbling window whose events were all late
                continue
            accumulator = self.s.windows.get(span) or self.agg.fresh()
            self.s.windows[span], failed = self.agg.fold(accumulator, events)
            # an event in several sliding windows fails in each: report it once
            deads += [d for d in failed if id(d.event) not in failed_ids]
            failed_ids.update(id(d.event) for d in failed)
        return deads

    def _spans(self, moment: datetime):
        if self.settings.kind == "tumbling":
            return windows.tumbling(moment, self.settings.size)
        return windows.sliding(moment, self.settings.size, self.settings.every)

    def _sessions(self, timed: list, now: datetime) -> List[DeadLetter]:
        gap, deads = self.settings.gap, []
        for moment, event in timed:
            closed_before = self._closed_before(now)
            self._advance(moment, now)
            start, end = moment, moment
            # an event joins the open sessions it is less than `gap` away from; a session the
            # watermark has closed is not joined even before it is emitted (same as if it had been)
            absorbed = [w for w in self.s.windows if w[0] - gap < moment < w[1] + gap
                        and (closed_before is None or w[1] + gap > closed_before)]
            if not absorbed and closed_before is not None and moment + gap <= closed_before:
                deads.append(self._late(event, moment, (moment, moment + gap), closed_before))
                continue
            accumulator, failed = self.agg.fold(self.agg.fresh(), [event])
            if failed:  # its argument failed: it neither starts nor extends a session
                deads += failed
                continue
            parts = sorted([(span, self.s.windows[span]) for span in absorbed] + [((moment, moment), accumulator)],
                           key=lambda part: part[0])
            accumulator = parts[0][1]
            try:
                for _, later in parts[1:]:  # in time order, so first() and last() stay right
                    accumulator = self.agg.merge(accumulator, later)
            except Exception as exc:  # noqa: BLE001 - e.g. min() of a str and an int: this event only
                deads.append(DeadLetter(event, self.agg.step_id, describe(exc)))
                continue
            for span in absorbed:
                del self.s.windows[span]
            start, end = min(start, parts[0][0][0]), max(end, max(p[0][1] for p in parts))
            self.s.windows[(start, end)] = accumulator
        return deads

    def _late(self, event: dict, moment: datetime, span, watermark: datetime) -> DeadLetter:
        return DeadLetter(event, self.agg.step_id,
                          f"late event: event time {moment.isoformat()} is in window "
                          f"[{span[0].isoformat()}, {span[1].isoformat()}), closed at watermark {watermark.isoformat()}")

    # -- time -----------------------------------------------------------------------------
    def watermark(self, now: datetime) -> Optional[datetime]:
        if self.settings.event_time is None:
            return now
        if self.s.max_event_time is None:
            return None
        try:
            return self.s.max_event_time - self.settings.lateness + (now - self.s.max_seen_at)
        except OverflowError:  # advanced past the last timestamp: every window has closed
            return windows.LAST

    def _closed_before(self, now: datetime) -> Optional[datetime]:
        """Windows closing at or before this are closed: the event-time watermark now (the
        same one :meth:`due` uses, so a window is never emitted twice)."""
        if self.settings.event_time is None:
            return None
        return self.watermark(now)

    def _close_time(self, span) -> datetime:
        return span[1] + self.settings.gap if self.settings.kind == "session" else span[1]

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

    def due(self, now: datetime) -> Tuple[List[dict], List[DeadLetter]]:
        """Results of the windows the watermark has passed, oldest first; they are forgotten."""
        now = self._tick(now)
        mark = self.watermark(now)
        if mark is None:
            return [], []
        return self._emit([w for w in self.s.windows if self._close_time(w) <= mark]), []

    def flush(self) -> Tuple[List[dict], List[DeadLetter]]:
        """End of input: every open window, and a ``final`` running result."""
        if self.settings.kind is None:
            if self.settings.emit == "final" and self.s.running is not None:
                return [self.agg.result(self.s.key, self.s.running)], []
            return [], []
        if self.settings.kind == "count":
            return ([self._count_result()] if self.s.seen else []), []
        return self._emit(list(self.s.windows)), []

    def _emit(self, spans) -> List[dict]:
        results = []
        for span in sorted(spans):
            accumulator = self.s.windows.pop(span)
            results.append(self.agg.result(self.s.key, accumulator, {"window_start": span[0], "window_end": span[1]}))
        return results

    def next_notification(self) -> Optional[datetime]:
        """System time at which the earliest open window closes (for a Bytewax timer)."""
        if not self.s.windows:
            return None
        earliest = min(self._close_time(w) for w in self.s.windows)
        if self.settings.event_time is None:
            return earliest
        if self.s.max_event_time is None:
            return None
        return self.s.max_seen_at + (earliest - (self.s.max_event_time - self.settings.lateness))

    def state(self) -> KeyState:
        return self.s

    @property
    def disposable(self) -> bool:
        """Nothing left to remember: processing-time windows all closed. (Event-time state
        keeps the watermark, so late events stay detectable; running and count state lives on.)"""
        return self.settings.kind in ("tumbling", "sliding", "session") and self.settings.event_time is None \
            and not self.s.windows


# -- configuration helpers ---------------------------------------------------------------
def _key_name(key_text_option: Optional[str]) -> str:
    """A key that is a plain field keeps its name in the results; anything else is ``key``."""
    if key_text_option and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_text_option.strip()):
        return key_text_option.strip()
    return "key"


def _settings(config: dict, fields) -> Settings:
    window = config.get("window") or {}
    settings = Settings(emit=config.get("emit", "updates"))
    kinds = [k for k in WINDOW_KINDS if k in window]
    if len(kinds) > 1:
        raise ConfigError(f"a window has one kind, not {' and '.join(kinds)}", ("window",),
                          hint="keep one of tumbling, sliding, session, count")
    if window and not kinds:
        raise ConfigError("the window needs a kind", ("window",), hint="add tumbling, sliding, session or count")
    if not kinds:
        return settings
    settings.kind = kinds[0]
    if config.get("emit") == "updates":
        raise ConfigError("windows emit each window once, when it closes", ("emit",),
                          hint="remove 'emit' (it applies to aggregates without a window)")
    _window_sizes(settings, window)
    _window_time(settings, window, fields)
    return settings


def _window_sizes(settings: Settings, window: dict) -> None:
    if settings.kind == "count":
        count = window["count"]
        if type(count) is not int or count < 1:
            raise ConfigError(f"a count window needs a positive whole number of events, not {count!r}",
                              ("window", "count"), hint="e.g. count: 100")
        settings.count = count
        for option in ("time", "event_time", "allowed_lateness"):
            if option in window:
                raise ConfigError(f"count windows do not use '{option}'", ("window", option),
                                  hint="a count window closes after its number of events; remove it")
        return
    if settings.kind == "tumbling":
        settings.size = _duration(window, ("tumbling",))
    elif settings.kind == "sliding":
        settings.size = _duration(window["sliding"], ("sliding", "size"), "size")
        settings.every = _duration(window["sliding"], ("sliding", "every"), "every")
        if settings.every > settings.size:
            raise ConfigError("a sliding window cannot start more often than it lasts: 'every' is larger than 'size'",
                              ("window", "sliding", "every"), hint="use a tumbling window, or make every <= size")
    else:
        settings.gap = _duration(window["session"], ("session", "gap"), "gap")
    if "allowed_lateness" in window:
        settings.lateness = _duration(window, ("allowed_lateness",))


def _duration(options: dict, path: tuple, key: Optional[str] = None) -> timedelta:
    text = options[key or path[-1]]
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc), ("window", *path), hint=DURATION_HINT) from None


def _window_time(settings: Settings, window: dict, fields) -> None:
    time = window.get("time", "event" if "event_time" in window else "processing")
    if settings.kind == "count":
        return
    if time == "event":
        if "event_time" not in window:
            raise ConfigError("event-time windows need 'event_time'", ("window", "time"),
                              hint="add event_time: <expression giving a timestamp>, or time: processing")
        settings.event_time = compile_option(window["event_time"], fields, ("window", "event_time"))
        if settings.event_time.type not in ("timestamp", "any", "json"):
            raise ConfigError(f"event_time must be a timestamp, not {settings.event_time.type}",
                              ("window", "event_time"), hint="cast the field to timestamp first, or use timestamp(...)")
    elif "event_time" in window:
        raise ConfigError("'event_time' is ignored with time: processing", ("window", "event_time"),
                          hint="remove it, or use time: event")


_MISSING = object()


def _as_utc(value) -> datetime:
    if value is None:
        raise ValueError("null")
    if type(value) is not datetime:
        raise TypeError(f"expected a timestamp, got {type(value).__name__} {value!r:.40}")
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
