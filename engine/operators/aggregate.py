"""``aggregate``: a per-key stateful fold, running or windowed (docs/aggregate.md).

The operator compiles its configuration once: the key expression, one fused ``fold`` function
that updates every aggregation of a key for a list of events, and ``merge``/``result``
functions. The per-key logic is one class per window kind (``engine/operators/windows/``),
chosen here from the ``window`` option; each has its own plain-data state, so Bytewax can
snapshot it.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from engine.durations import duration_option
from engine.errors import ConfigError
from engine.hints import did_you_mean
from engine.operators.aggregations import (
    AGGREGATIONS,
    check_argument_type,
    fold_functions,
    fold_many,
    reason,
    strict_fold,
)
from engine.operators.codegen import FirstTry, build_function
from engine.operators.expr import compile_option
from engine.operators.keyed import Events, KeyedStep, Released, events_grouper, fused_grouper, group_by_key
from engine.operators.map import key_text
from engine.operators.windows import bounds
from engine.operators.windows.base import Settings, WindowLogic
from engine.operators.windows.count import CountWindows
from engine.operators.windows.running import Running
from engine.operators.windows.session import SessionWindows
from engine.operators.windows.sliding import SlidingWindows
from engine.operators.windows.timed import TimeState
from engine.operators.windows.tumbling import TumblingWindows
from engine.records import KEY_FIELD, DeadLetter

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)
WINDOW_KINDS = ("tumbling", "sliding", "session", "count")
MAX_SLIDING_WINDOWS = 10_000  # windows of one event (size / every): each its accumulator, folded per event
_FUSED_MAX = 12  # more accumulators: one quick fold each (the generated function grows with them)


class RunningEvents(Running):
    """``Running`` that also takes a key's ``Events`` (``Aggregate.group_events``): no pair
    per event to make and take apart."""

    def add(self, pairs: list, now: datetime) -> Released:
        if pairs.__class__ is not Events:
            return super().add(pairs, now)
        if self.s.key is None:
            self.s.key = pairs.key
        return self.fold_events(pairs)


LOGIC: Dict[Optional[str], Type[WindowLogic]] = {  # window kind -> per-key logic
    None: RunningEvents, "count": CountWindows, "tumbling": TumblingWindows, "sliding": SlidingWindows,
    "session": SessionWindows}


class KeyState:
    """The one state every window kind shared before each got its own: a snapshot taken then
    unpickles as this (pickle looks the class up by name) and :meth:`Aggregate.logic` converts it."""


class Aggregate(KeyedStep):
    """Compiles ``key``, ``compute`` and ``window``; builds per-key aggregators."""

    Logic: Type[WindowLogic]

    def __init__(self, step_id: str, config: dict, input_fields) -> None:
        self.step_id = step_id
        key_text_option = config.get("key")
        self.key = compile_option(key_text_option, input_fields, ("key",)) if key_text_option else None
        self.key_name = _key_name(key_text_option)
        self.settings = _settings(config, input_fields)
        slots, arg_types = self._compile_compute(config["compute"], input_fields)
        self.slots = slots
        self.fresh, fold, self._fold_exact, self._merge, self._result = fold_functions(step_id, slots)
        # the usual events have every field an aggregation reads: read as e[name] (FirstTry: pure)
        self._fold = FirstTry(lambda: strict_fold(step_id, slots) or fold, fold)
        self._fused: Dict[int, Callable[[list, list], list]] = {}  # fold_many per number of accumulators
        key_source = self.key.python if self.key is not None else f"e.get({KEY_FIELD!r})"
        self._key_of = build_function("key_of", f"def key_of(e):\n    return {key_source}\n", step_id)
        self._group_all = fused_grouper(key_source, step_id)
        self._group_events: Optional[Callable[[list], Dict[str, Events]]] = None
        if self.key is not None:  # the usual batch, every event with its key field, read as e[name]
            key = self.key
            self._group_all = FirstTry(lambda: fused_grouper(key.strict()[0], step_id), self._group_all)
            if self.settings.kind is None:  # RunningEvents takes Events
                self._group_events = FirstTry(lambda: events_grouper(key.strict()[0], step_id), _pairs_instead)
        self.times = None
        settings = self.settings
        self.Logic = LOGIC[settings.kind]
        self.time_range = bounds.time_range(_reach(settings))
        self._width = len(self.fresh())  # the accumulator's slots (a restored one must have as many)
        if self.settings.event_time is not None:  # every event time of a list of events, in one loop
            self.times = build_function(
                "times", f"def times(events):\n    return [({self.settings.event_time.python}) for e in events]\n",
                step_id)
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
                hint = did_you_mean(function, AGGREGATIONS) or "aggregations: " + ", ".join(AGGREGATIONS)
                raise ConfigError(f"unknown aggregation '{function}'", ("compute", name), offset=match.start(1),
                                  hint=hint)
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
        start = match.start(2) + len(match.group(2)) - len(match.group(2).lstrip())  # where the argument starts
        return compile_option(argument, fields, ("compute", name), offset=start)

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
        try:
            return list(self._group_all(batch).items()), []
        except Exception:  # noqa: BLE001 - some event's key fails or is null: found one by one
            return group_by_key(batch, self.step_id, self._key_of, "the aggregation key is null")

    def group_events(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """:meth:`group` with a key's events as ``Events`` when every key is text (no window)."""
        if self._group_events is not None:
            try:
                return list(self._group_events(batch).items()), []
            except Exception:  # noqa: BLE001 - a key that is not text, null or failing: pairs
                pass
        return self.group(batch)

    def logic(self, state=None) -> WindowLogic:
        """The per-key logic of this step's window kind (see engine/operators/keyed.py)."""
        if isinstance(state, KeyState):
            old = vars(state)
            kept = {f.name: old[f.name] for f in dataclasses.fields(self.Logic.State) if f.name in old}
            state = self.Logic.State(**kept)
        if state is not None:
            self._check_restored(state)
        return self.Logic(self, state)

    def _check_restored(self, state: Any) -> None:
        """A snapshot taken before the step's window kind or ``compute`` changed (a topology
        redeployed on its recovery store) does not fit: its accumulators lack slots, or it is
        another kind's state, and every call on it would raise, dead-lettering each later event
        of the key. Raising here, once, lets the keyed boundary report it and start the key empty."""
        if type(state) is not self.Logic.State:
            raise ValueError(f"the snapshot does not fit this step: a {type(state).__name__}, this window takes "
                             f"a {self.Logic.State.__name__} (the window changed since the snapshot)")
        accumulators = state.windows.values() if isinstance(state, TimeState) else [vars(state).get("running")]
        for accumulator in accumulators:
            if accumulator is not None and (type(accumulator) is not list or len(accumulator) != self._width):
                raise ValueError(f"the snapshot does not fit this step: its accumulators are not of this compute's "
                                 f"{self._width} slots (it changed since the snapshot)")

    aggregator = logic

    def fold(self, accumulator: list, events: list) -> Tuple[list, List[DeadLetter]]:
        """Fold ``events`` in; if one makes an expression fail, only that event is dead-lettered."""
        try:
            return self._fold(accumulator, events), []
        except Exception:  # noqa: BLE001 - find the failing events one by one, and why
            deads = []
            for event in events:
                try:
                    accumulator = self._fold_exact(accumulator, [event])
                except Exception as exc:  # noqa: BLE001
                    deads.append(DeadLetter(event, self.step_id, reason(exc)))
            return accumulator, deads

    def fold_many(self, accumulators: list, events: list) -> list:
        """The same events folded into each accumulator, each argument read once per event (a
        sliding period's windows); raises when some fold fails (the caller then uses :meth:`fold`)."""
        count = len(accumulators)
        if count > _FUSED_MAX:
            return [self._fold(accumulator, events) for accumulator in accumulators]
        fused = self._fused.get(count)
        if fused is None:
            fused = self._fused[count] = fold_many(self.step_id, self.slots, count)
        return fused(accumulators, events)

    def merge(self, earlier: list, later: list) -> list:
        return self._merge(earlier, later)

    def result(self, key, accumulator: list, window: Optional[dict] = None) -> dict:
        out = {self.key_name: key, **(window or {})}
        out.update(self._result(accumulator))
        out[KEY_FIELD] = key_text(key)
        return out


def _pairs_instead(batch: list):
    raise ValueError("grouped into pairs")  # a batch the events grouper does not take (FirstTry's pause)


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
        windows = -(-settings.size // settings.every)  # an event is in as many (an accumulator each)
        if windows > MAX_SLIDING_WINDOWS:  # (1d every 1ms: 86.4 million, minutes and gigabytes per event)
            raise ConfigError(f"a sliding window that puts each event in {windows} windows; at most "
                              f"{MAX_SLIDING_WINDOWS}", ("window", "sliding", "every"),
                              hint=f"make every at least size / {MAX_SLIDING_WINDOWS}")
    else:
        settings.gap = _duration(window["session"], ("session", "gap"), "gap")
    if "allowed_lateness" in window:
        settings.lateness = _duration(window, ("allowed_lateness",))


def _reach(settings: Settings) -> timedelta:
    """How far from an event time a window's arithmetic goes (``bounds.time_range``). Each
    duration fits a timedelta; their sum may not (OverflowError), or leave no event time
    between the ends of the calendar: a configuration error at the longest option."""
    zero = timedelta(0)
    try:
        reach = settings.lateness + 2 * (settings.gap or zero) + (settings.size or zero) + (settings.every or zero)
        first, last = bounds.time_range(reach)
    except OverflowError:
        first, last = bounds.LAST, bounds.FIRST
    if first > last:
        parts = {("allowed_lateness",): settings.lateness, ("session", "gap"): settings.gap or zero,
                 ("sliding", "size") if settings.every else ("tumbling",): settings.size or zero}
        raise ConfigError("this window reaches too far: its size, every, twice its gap and its allowed lateness "
                          "add up to thousands of years, and no event time would fit between 0001-01-01 and "
                          "9999-12-31", ("window", *max(parts, key=parts.__getitem__)), hint="shorten it")
    return reach


def _duration(options: dict, path: tuple, key: Optional[str] = None) -> timedelta:
    return duration_option(options[key or path[-1]], ("window", *path))


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
