"""The contract of a keyed, stateful operator, written once (``aggregate``, ``micro_batch``,
``with_previous``, ``merge_transactions``).

A keyed operator is two objects. The *step* (:class:`KeyedStep`), built once from the YAML
config, splits every batch by key with ``group(batch) -> ([(key, pairs)], dead letters)`` and
builds the per-key logic with ``logic(state)``. The *per-key logic* (:class:`KeyLogic`) moves one
key's state forward. ``engine/compiler/keyed.py`` wraps it in a Bytewax ``StatefulBatchLogic``
and calls, for each key (the same order as Bytewax's ``StatefulBatchLogic``):

1. ``logic(state)``: once, when the key's first events arrive (``state`` is None) or when its
   snapshot is restored; after a restore, ``resume(now)`` once, before anything else;
2. per awake: ``add(pairs, now)`` with every ``(key value, event)`` pair queued for the key
   (it may keep the pairs and events, never the ``pairs`` list itself: the compiler's list
   also refers to the batch it came from, for tracing), or the key's ``Events`` when the
   step groups with them (``group_events``), then ``due(now)`` if the time
   ``next_notification()`` gave has passed, then ``flush()`` if the bounded input has ended
   (no more events will come);
3. after those, unless the key was discarded: ``next_notification()``, the system time of the
   next ``due`` call (None: no timer); ``disposable`` is read after every call: True lets the
   compiler forget the key (its state would be empty anyway);
4. now and then: ``state()``, which is pickled as the key's snapshot; it must be plain,
   picklable data (and a copy is taken at once, so the logic may keep mutating it).

``add``, ``due`` and ``flush`` return ``(emitted events, dead letters)``. A bad event never
raises: it is dead-lettered with the reason and the state is left as if it had not come. ``now``
is passed in rather than read, so tests drive time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Callable, ClassVar, Dict, Generic, List, Optional, Tuple, Type, TypeVar

from engine.operators.codegen import build_function
from engine.operators.dead import describe
from engine.operators.map import key_text
from engine.records import DeadLetter

S = TypeVar("S")
Released = Tuple[List[dict], List[DeadLetter]]  # (emitted events, dead letters)


class KeyLogic(ABC, Generic[S]):
    """One key's logic over its state ``s``; the defaults are those of a logic without timers
    that never forgets its key."""

    State: ClassVar[type]  # the state a fresh key starts with: ``State()``

    def __init__(self, step: Any, state: Optional[S] = None) -> None:
        self.step = step  # the compiled step: its options and functions, shared by every key
        self.s: S = state if state is not None else self.State()

    @abstractmethod
    def add(self, pairs: List[tuple], now: datetime) -> Released:
        """Take ``(key value, event)`` pairs; return what is due now and dead letters."""

    def due(self, now: datetime) -> Released:
        """The timer of :meth:`next_notification` has fired."""
        return [], []

    def flush(self) -> Released:
        """End of a bounded input: release whatever is held."""
        return [], []

    def next_notification(self) -> Optional[datetime]:
        return None

    def resume(self, now: datetime) -> None:
        """The state was restored from a snapshot taken before a downtime."""

    def state(self) -> S:
        return self.s

    @property
    def disposable(self) -> bool:
        return False


class KeyedStep:
    """The step side: ``kind`` tells the compiler to wire it as a keyed step; ``Logic`` is the
    :class:`KeyLogic` class ``logic`` builds."""

    kind = "keyed"
    Logic: Type[KeyLogic]
    step_id: str
    output_fields: Any

    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """``(key, [(key value, event), ...])`` per key of the batch, and the events it cannot key
        as dead letters (see :func:`group_by_key`)."""
        raise NotImplementedError

    def group_events(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """What the compiler groups with: :meth:`group`, or (a step whose logic takes them) the
        same groups with a key's events as :class:`Events` instead of its pairs."""
        return self.group(batch)

    def logic(self, state: Any = None) -> KeyLogic:
        """The per-key logic the compiler drives (``engine/compiler/keyed.py``)."""
        return self.Logic(self, state)


def group_by_key(batch: list, step_id: str, key_of: Callable[[dict], Any], null_reason: str,
                 ) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
    """``group`` for steps keyed by an expression: ``(key text, [(key value, event)])`` per key,
    in order of first appearance; an event whose key fails or is null is a dead letter."""
    groups: Dict[str, list] = {}
    deads: List[DeadLetter] = []
    for event in batch:
        try:
            value = key_of(event)
            text = key_text(value)
        except Exception as exc:  # noqa: BLE001 - this event's key, not the batch
            deads.append(DeadLetter(event, step_id, f"key: {describe(exc)}"))
            continue
        if value is None:
            deads.append(DeadLetter(event, step_id, null_reason))
            continue
        groups.setdefault(text, []).append((value, event))
    return list(groups.items()), deads


def fused_grouper(key_python: str, step_id: str) -> Callable[[list], Dict[str, list]]:
    """:func:`group_by_key` of a batch in one generated loop, the key expression (``key_python``,
    compiled by our expression compiler) inlined: ``{key text: [(key value, event)]}``. It
    raises when an event's key fails or is null: the caller then groups with
    :func:`group_by_key`, which says which events and why."""
    source = (
        "def group_all(batch):\n"
        "    groups = {}\n"
        "    for e in batch:\n"
        f"        v = ({key_python})\n"
        "        t = v if v.__class__ is _str else _key_text(v)\n"  # key_text: the language's str(v)
        "        if t is None: raise _NullKey\n"
        "        p = groups.get(t)\n"
        "        if p is None: groups[t] = [(v, e)]\n"
        "        else: p.append((v, e))\n"
        "    return groups\n")
    return build_function("group_all", source, step_id, {"_str": str, "_key_text": key_text, "_NullKey": _NullKey})


class _NullKey(Exception):
    pass


class Events(list):
    """One key's events of a batch, for a step whose logic takes them instead of ``(key value,
    event)`` pairs (an ``aggregate`` without a window): every event's key value is the text
    ``key`` itself, so the pairs would repeat it. ``batch``: the batch they came from, set by
    the compiler for tracing (see ``engine.compiler.keyed``). ``owned`` (unset unless a step's
    ``group_events_owned`` sets it): the events are the step's own, their top-level fields free
    to change (engine/compiler/ownership.py)."""

    __slots__ = ("key", "batch", "owned")
    key: str
    batch: Any
    owned: bool


def events_grouper(key_python: str, step_id: str) -> Callable[[list], Dict[str, Events]]:
    """:func:`fused_grouper` as ``{key text: Events}``; it raises when a key value is not text
    (null, a number...): the caller then groups into pairs. The keys are tested once per group,
    after the loop: a value that is not text is a key of its own (no str equals it), or raises
    (unhashable); a str subclass may join the group of an equal str met before it, whose key
    (the first value, as a pair's state keeps) the groups of pairs would have too."""
    source = (
        "def group_events(batch):\n"
        "    groups = {}\n"
        "    for e in batch:\n"
        f"        v = ({key_python})\n"
        "        try:\n"  # a subscript and no test per event: ~160 instructions fewer than get()
        "            groups[v].append(e)\n"
        "        except _KeyError:\n"
        "            groups[v] = p = _Events((e,))\n"
        "            p.key = v\n"
        "    for v in groups:\n"
        "        if v.__class__ is not _str: raise _NullKey\n"
        "    return groups\n")
    return build_function("group_events", source, step_id,
                          {"_str": str, "_Events": Events, "_NullKey": _NullKey, "_KeyError": KeyError})


def events_of(items: list) -> list:
    """The events of what ``add`` takes: ``Events``, or ``(key value, event)`` pairs."""
    return items if items.__class__ is Events else [event for _, event in items]


def singles(items: list) -> List[Tuple[dict, list]]:
    """``(event, what add takes for that event alone)`` for each event of ``items``."""
    if items.__class__ is not Events:
        return [(pair[1], [pair]) for pair in items]
    out: List[Tuple[dict, list]] = []
    for event in items:
        one = Events((event,))
        one.key = items.key
        out.append((event, one))
    return out
