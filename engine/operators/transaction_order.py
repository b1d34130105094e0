"""Source order for the changes ``merge_transactions`` cannot wait a transaction's end for.

Some row changes belong to no transaction whose end will ever be announced:

* snapshot reads: Debezium's initial snapshot (``snapshot.mode=initial``) and its incremental
  snapshots (signal-table chunks, interleaved with streaming) emit ``op: r`` events, with
  ``source.snapshot`` ``true``/``first``/``last``/``incremental``/``first_in_data_collection``/
  ``last_in_data_collection``, and no BEGIN/END records;
* changes without a transaction id;
* with ``markers``, the changes of a transaction proven to have no markers (see
  ``TransactionMerger._unmarked`` in ``merge_transactions``).

They are *loose*: kept in a list of :class:`Loose` units (one per event, or a whole unmarked
transaction), each with its source position (the highest ``lsn`` of its changes), and released
in source order around the transactions: before a transaction is released, every loose unit
whose position is not above the transaction's position goes first, in LSN order (a unit
without a position goes with the next transaction released), unless a transaction still open
delivered a change on one of its tables before it (per table, the topic's order is the order
of application: it then waits for that transaction). A unit that arrives after a
transaction with a higher position was already released goes at once (its LSN, carried by
every output change, lets the sink order writes per row). ``idle`` and the end of a bounded
input release the rest, in LSN order.

Consecutive snapshot reads of one snapshot (same transaction id, or none) released together
are merged into one output transaction, so a snapshot still comes out as one event per
domain key.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Dict, List, Optional, Tuple

from mypy_extensions import mypyc_attr

from engine.operators.compact_change import LSN, Change

_LSN = itemgetter("lsn")
_COMPACT_LSN = itemgetter(LSN)


@mypyc_attr(native_class=False)  # (a plain class when compiled: the merge's snapshots pickle it)
@dataclass
class Loose:
    """Changes released in source order, not at a transaction's end."""

    tx_id: Optional[str]
    changes: List[Change] = field(default_factory=list)
    snapshot: bool = False  # snapshot reads: consecutive ones merge into one output transaction
    arrival: int = 0  # arrival index: ties of position keep arrival order
    last_seen: Optional[datetime] = None


def position(changes: List[Any], lsns: Optional[Tuple[Any, ...]] = None) -> Optional[Any]:
    """The source position of changes: their highest numeric ``lsn``; None when none has one
    (``lsns``: their ``positions``, when already known)."""
    best: Any = None  # (an int, or a float among other positions)
    lsns = positions(changes) if lsns is None else lsns
    for lsn in lsns:  # (a plain loop: no set built, no max call)
        if type(lsn) is not int:
            break
        if best is None or lsn > best:
            best = lsn
    else:  # the usual transaction: every change has an integer lsn
        return best
    best = None
    for lsn in lsns:
        if type(lsn) in (int, float) and lsn == lsn and (best is None or lsn > best):
            best = lsn
    return best


def positions(changes: List[Any]) -> Tuple[Any, ...]:
    """The ``lsn`` of each change, a dict or a compact change (engine/operators/compact_change.py)
    (a released transaction's: its redeliveries come at them); a tuple, which the cyclic GC stops
    tracking, unlike a set kept with every transaction."""
    try:  # the usual transaction: every change has an lsn, all of one kind; a C loop
        return tuple(map(_COMPACT_LSN if changes and type(changes[0]) is tuple else _LSN, changes))
    except (KeyError, TypeError):
        return tuple([change[LSN] if type(change) is tuple else change.get("lsn") for change in changes])


def _order(unit: Loose) -> Tuple[int, Any, int]:
    pos = position(unit.changes)
    return (0, 0, unit.arrival) if pos is None else (1, pos, unit.arrival)


def take(units: List[Loose], upto: Optional[Any], everything: bool = False, unpositioned: bool = True,
         earliest: Optional[Dict[Any, int]] = None) -> Tuple[List[Loose], List[Loose]]:
    """(the units to release now, in source order; the units kept). Taken: every unit whose
    position is not above ``upto``, the units without a position (with ``unpositioned``), all
    of them with ``everything``; but never a unit that arrived on a table after a change of a
    transaction still open (``earliest``: per table, the arrival index of the first change of
    an open transaction): one table's topic is in the order its changes must be applied."""
    if not units:
        return [], units
    taken: List[Loose] = []
    kept: List[Loose] = []
    for unit in units:
        pos = position(unit.changes)
        go = everything or (unpositioned if pos is None else (upto is not None and pos <= upto))
        if go and earliest and not everything:
            go = all(earliest.get(c.get("table"), unit.arrival) >= unit.arrival for c in unit.changes)
        (taken if go else kept).append(unit)
    taken.sort(key=_order)
    return taken, kept


def runs(units: List[Loose]) -> List[Tuple[Optional[str], List[Change], bool]]:
    """The output transactions of units in source order: (tx id, changes, snapshot reads?);
    consecutive snapshot reads of one snapshot make one."""
    out: List[Tuple[Optional[str], List[Change], bool]] = []
    previous: Optional[Loose] = None
    for unit in units:
        if previous is not None and unit.snapshot and previous.snapshot and unit.tx_id == previous.tx_id:
            out[-1][1].extend(unit.changes)
        else:
            out.append((unit.tx_id, list(unit.changes), unit.snapshot))
        previous = unit
    return out


def in_table_order(candidates: list, blockers: list, hold: bool = True) -> list:
    """``candidates`` (transactions) in an order each table's topic agrees with: one goes only
    after every transaction that delivered a change on one of its tables before it (its
    ``first_arrival``). A candidate behind one of ``blockers`` (open, not going now) stays;
    with ``hold`` False, whatever no order can be found for goes last instead (a safety net).
    A topological sort: per table, each transaction follows the one before it on that table."""
    if not blockers and len(candidates) < 2:
        return list(candidates)
    nodes = list(candidates) + list(blockers)
    going = len(candidates)
    per_table: Dict[str, List[Tuple[int, int]]] = {}
    for index, transaction in enumerate(nodes):
        for table, arrival in getattr(transaction, "first_arrival", {}).items():
            per_table.setdefault(table, []).append((arrival, index))
    after: List[List[int]] = [[] for _ in nodes]
    waits = [0] * len(nodes)
    for entries in per_table.values():
        entries.sort()
        for (_, first), (_, then) in zip(entries, entries[1:], strict=False):
            after[first].append(then)
            waits[then] += 1
    ready = [(_first(nodes[i]), i) for i in range(going) if waits[i] == 0]  # a blocker never goes
    heapq.heapify(ready)
    chosen: list = []
    taken = set()
    while ready:
        _, index = heapq.heappop(ready)
        chosen.append(nodes[index])
        taken.add(index)
        for then in after[index]:
            waits[then] -= 1
            if waits[then] == 0 and then < going:
                heapq.heappush(ready, (_first(nodes[then]), then))
    if hold:
        return chosen
    return chosen + [t for i, t in enumerate(candidates) if i not in taken]


def _first(transaction) -> int:
    return min(getattr(transaction, "first_arrival", {}).values(), default=0)
