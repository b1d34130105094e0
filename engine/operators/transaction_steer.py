"""What ``merge_transactions`` (with markers) tells the sources of its process while it holds
many transactions (engine/steering.py): the tables its oldest ended transaction still lacks
changes of, or END records when none of what it holds has ended."""

from __future__ import annotations

from datetime import datetime
from typing import FrozenSet, Optional

from engine import steering
from engine.operators.transaction_state import MergeState


class Steer:
    """Called after each of the merge's turns (``after``); publishes or withdraws its want.

    The want is the step's (``step_id``), not this object's: a logic rebuilt from a checkpoint
    (the keyed boundary's careful mode, engine/compiler/keyed.py) replaces it."""

    def __init__(self, step_id: str, own: Optional[FrozenSet[str]]) -> None:
        self._key = step_id
        self._own = own  # the step's ``tables``; without them, the tables seen so far
        self._steering: Optional[steering.Steering] = None
        self._progress: object = None  # (oldest ended open transaction, highest position released)
        self._since: Optional[datetime] = None  # ... unchanged since when

    def after(self, s: MergeState, now: datetime) -> None:
        if self._steering is None:
            self._steering = steering.current()
        if len(s.open) <= steering.PRESSURE:
            self._steering.withdraw(self._key)
            return
        head = next(filter(None, map(s.open.get, s.ended)), None)  # (an id in ended may be gone)
        progress = (None if head is None else head.id, s.released_upto)  # (waiting for ENDs: no head)
        if progress != self._progress or self._since is None:
            self._progress, self._since = progress, now
        wanted = _lacking(head)
        if now - self._since > steering.STALL or (wanted is not None and not wanted):
            self._steering.withdraw(self._key)  # its data is not coming (soon): steering would only wait
            return
        self._steering.want(self._key, wanted, self._own or frozenset(s.latest_by_table))

    def withdraw(self) -> None:
        if self._steering is not None:
            self._steering.withdraw(self._key)


def _lacking(head) -> Optional[FrozenSet[str]]:
    """The tables whose changes the oldest ended transaction still lacks; ``MARKERS`` when no
    held transaction has ended; none when its END names no table (or was malformed)."""
    if head is None:
        return steering.MARKERS
    if head.expected is None or "*" in head.expected:
        return frozenset()
    return frozenset(t for t, n in head.expected.items() if head.per_table.get(t, 0) < n)
