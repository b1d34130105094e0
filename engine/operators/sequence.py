"""``sequence`` and ``resequence``: one key's events kept in order across steps that reorder them.

A join keyed by another key than the entity's (the Event Engine's trip join, keyed by the trip)
holds an event whose row is late while the entity's next event, on another join key, passes
it. ``sequence: {key: order_id}`` numbers each key's events 1, 2, 3, ... in the order they reach
it (field ``_seq``, or ``as``); ``resequence: {key: order_id, wait: 70s}`` after the reordering
steps gives each key's events on in that order: an event whose predecessors have not all come
waits; after ``wait`` (at least the longest hold between the two steps) the missing ones are
given up (a dead letter upstream, say) and the held ones go on in order. An event whose place
was given up goes on when it comes, late. Nothing is dropped.

Both keep their state per key in the recovery store (a number; the held events); the key's
number never restarts, so the key is never forgotten. Numbers count processing order: events
that reach ``sequence`` out of order stay so.
"""

from __future__ import annotations

from bisect import insort
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, List, Optional, Tuple

from engine.durations import duration_option
from engine.operators.expr import compile_option
from engine.operators.fields import with_fields
from engine.operators.keyed import KeyedStep, KeyLogic, Released, group_by_key
from engine.records import DeadLetter

FIELD = "_seq"
_NUMBER = itemgetter(0)  # a held entry's number


class Counted:
    """A key's last number."""

    def __init__(self, last: int = 0) -> None:
        self.last = last


class Numbering(KeyLogic):
    State = Counted

    def add(self, pairs: list, now) -> Released:
        out = []
        field = self.step.field
        for _, event in pairs:
            self.s.last += 1
            out.append({**event, field: self.s.last})
        return out, []


class _ByKey(KeyedStep):
    """A step keyed by its ``key`` expression (an event whose key is null: a dead letter)."""

    def __init__(self, step_id: str, config: dict, input_fields, field_option: str) -> None:
        self.step_id = step_id
        self.key: Any = compile_option(config["key"], input_fields, ("key",))
        self.field: str = config.get(field_option, FIELD)

    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        return group_by_key(batch, self.step_id, self.key, "the key is null")


class Sequence(_ByKey):
    Logic = Numbering

    def __init__(self, step_id: str, config: Optional[dict], input_fields) -> None:
        super().__init__(step_id, config or {}, input_fields, "as")
        self.output_fields = with_fields(input_fields, {self.field: "int"}) if input_fields is not None else None


class Waiting:
    """A key's next number, and the events held for it as ``(number, deadline, event)``, sorted
    by number and, for a number given twice, by arrival (``insort`` puts an entry after its
    equals, so the events themselves are never compared)."""

    def __init__(self, next_number: int = 1, held: Optional[list] = None) -> None:
        self.next = next_number
        self.held: list = [] if held is None else held


class Reordering(KeyLogic):
    State = Waiting

    def add(self, pairs: list, now: datetime) -> Released:
        out: List[dict] = []
        deads: List[DeadLetter] = []
        step, s = self.step, self.s
        for _, event in pairs:
            number = event.get(step.field)
            if type(number) is not int:
                deads.append(DeadLetter(event, step.step_id, f"'{step.field}' is not a whole number: "
                                                             f"{type(number).__name__}"))
                continue
            if number < s.next:  # its place was given up: late, on at once
                out.append(event)
                continue
            insort(s.held, (number, now + step.wait, event), key=_NUMBER)
            out += self._ready()
        return out, deads

    def _ready(self) -> List[dict]:
        """The held events whose predecessors have all gone on (a number given twice: both, in
        arrival order)."""
        out = []
        s = self.s
        while s.held and s.held[0][0] <= s.next:
            number, _, event = s.held.pop(0)
            if number == s.next:
                s.next += 1
            out.append(event)
        return out

    def _give_up(self) -> List[dict]:
        """The numbers missing before the first held event given up, and what then goes on."""
        self.s.next = self.s.held[0][0]
        return self._ready()

    def due(self, now: datetime) -> Released:
        out: List[dict] = []
        while self.s.held and min(entry[1] for entry in self.s.held) <= now:
            out += self._give_up()
        return out, []

    def flush(self) -> Released:
        out: List[dict] = []
        while self.s.held:
            out += self._give_up()
        return out, []

    def next_notification(self) -> Optional[datetime]:
        return min(entry[1] for entry in self.s.held) if self.s.held else None

    def resume(self, now: datetime) -> None:
        wait = self.step.wait  # the downtime does not count as waiting: a full wait again
        self.s.held = [(number, now + wait, event) for number, _, event in self.s.held]


class Resequence(_ByKey):
    Logic = Reordering

    def __init__(self, step_id: str, config: Optional[dict], input_fields) -> None:
        config = config or {}
        super().__init__(step_id, config, input_fields, "by")
        self.wait: timedelta = duration_option(config["wait"], ("wait",))
        self.output_fields = input_fields
