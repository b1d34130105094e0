"""A keyed step driven as Bytewax drives it, with crashes: the compiler's boundary (``_KeyLogic``, the
join's ``_JoinKey``) per key, on a set clock, its timers fired when due, snapshots pickled as the
recovery store keeps them, and a crash that restores the last snapshot after a downtime and replays
the input that came after it (what was emitted since the snapshot is taken back: it is emitted again).

A test compares what it emits (with or without crashes) with a plain model of the documented semantics.
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from typing import Callable, Dict, List, Optional, Tuple

from engine import clock
from engine.compiler.joins import _JoinKey
from engine.compiler.keyed import _DEAD, _FAILED, _OK, _KeyLogic
from engine.operators.joins.stream_table import StreamTableJoin


class Driver:
    def __init__(self, step, now: datetime) -> None:
        self.step = step
        self.wrapper = _JoinKey if isinstance(step, StreamTableJoin) else _KeyLogic
        self.now = now
        self.logics: Dict[str, _KeyLogic] = {}
        self.out: List[dict] = []
        self.dead: list = []
        self.failures: list = []
        self.saved: Optional[Tuple[Dict[str, bytes], int, int, int]] = None  # snapshot, len(out), len(dead), fed
        self.fed: List[Tuple[str, list, timedelta]] = []  # the input, for the replay after a crash

    def __enter__(self) -> "Driver":
        clock.set_time(self.now)
        return self

    def __exit__(self, *_) -> None:
        clock.set_time(None)

    def _take(self, items: list) -> None:
        for item in items:
            if type(item) is dict:
                self.out.append(item)
            elif item[0] == _OK:
                self.out.append(item[1])
            elif item[0] == _DEAD:
                self.dead.append(item[1])
            else:
                assert item[0] == _FAILED
                self.failures.append(item[1])

    def _logic(self, key: str) -> _KeyLogic:
        logic = self.logics.get(key)
        if logic is None:
            logic = self.logics[key] = self.wrapper("step", self.step, None)
        return logic

    def feed(self, side: str, batch: list, advance: timedelta = timedelta(0)) -> None:
        """``side``: "from" or the other input; the clock first moves on by ``advance``."""
        self.fed.append((side, batch, advance))
        self._feed(side, batch, advance)

    def _feed(self, side: str, batch: list, advance: timedelta) -> None:
        self.tick(advance)
        grouping = self.step.group if side == "from" else self.step.group_side
        groups, dead = grouping(batch)
        self.dead += dead
        for key, pairs in groups:
            logic = self._logic(key)
            items, discard = logic.on_batch([pairs])
            self._take(items)
            if discard:  # StatefulBatchLogic.DISCARD is True
                del self.logics[key]

    def tick(self, advance: timedelta = timedelta(0)) -> None:
        """The clock moves on; every timer it passes fires."""
        self.now += advance
        clock.set_time(self.now)
        for key, logic in list(self.logics.items()):
            at = logic.notify_at()
            if at is not None and at <= datetime.now(at.tzinfo):  # clock.timer: due now (a set clock)
                items, discard = logic.on_notify()
                self._take(items)
                if discard:
                    del self.logics[key]

    def snapshot(self) -> None:
        """The recovery store's snapshot of every key (Bytewax pickles what ``snapshot`` returns)."""
        states = {key: pickle.dumps(logic.snapshot()) for key, logic in self.logics.items()}
        self.saved = (states, len(self.out), len(self.dead), len(self.fed))

    def crash(self, downtime: timedelta) -> None:
        """Back to the last snapshot (none: the start) after ``downtime``; the input since then is replayed."""
        states, outs, deads, fed = self.saved or ({}, 0, 0, 0)
        del self.out[outs:], self.dead[deads:]
        self.now += downtime
        clock.set_time(self.now)
        self.logics = {key: self.wrapper("step", self.step, pickle.loads(state)) for key, state in states.items()}
        for side, batch, advance in self.fed[fed:]:
            self._feed(side, batch, advance)

    def play(self, plan: list, batch_of: Callable[[object], list], side: str = "from") -> None:
        """Each item of ``plan`` in turn: ``"snapshot"``, ``"crash"`` (5 minutes down), or input
        that ``batch_of`` makes a batch of (fed a second apart); then the end of the input."""
        for item in plan:
            if item == "snapshot":
                self.snapshot()
            elif item == "crash":
                self.crash(timedelta(minutes=5))
            else:
                self.feed(side, batch_of(item), timedelta(seconds=1))
        self.end()

    def end(self) -> None:
        """End of a bounded input: every key flushes."""
        for logic in self.logics.values():
            items, _ = logic.on_eof()
            self._take(items)
        self.logics = {}
