"""The state of ``merge_transactions``: plain, picklable data (Bytewax snapshots it), the
bounded memories of ids it keeps, and the upgrade of snapshots taken by older versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import filterfalse
from typing import Any, Dict, List, Optional

from engine.operators.compact_change import Change
from engine.operators.transaction_order import Loose

_DONE_KEPT = 1000  # completed ids remembered at least, to ignore a marker that comes late or twice


@dataclass
class Transaction:
    """The buffered changes of one transaction, in arrival order."""

    id: Optional[str]  # None: changes outside any transaction (e.g. snapshot reads released in source order)
    changes: List[Change] = field(default_factory=list)  # (dicts, or compact tuples: compact_change.py)
    per_table: Dict[str, int] = field(default_factory=dict)
    expected: Optional[Dict[str, int]] = None  # from the END marker
    last_seen: Optional[datetime] = None
    unreadable_end: bool = False  # its END was malformed: complete by the later-transaction rule
    begun: bool = False  # its BEGIN record was seen: it has markers
    first_arrival: Dict[str, int] = field(default_factory=dict)  # per table, arrival index of its first change
    last_arrival: Dict[str, int] = field(default_factory=dict)  # ... and of its last
    created: Optional[int] = None  # arrival index of the change that opened it (not an END)
    snapshot: bool = False  # snapshot reads released in source order (transaction_order.runs)


@dataclass
class MergeState:
    """Plain, picklable state: open transactions and, per table, the latest transaction seen."""

    open: Dict[str, Transaction] = field(default_factory=dict)
    ended: List[str] = field(default_factory=list)  # END markers in arrival order = commit order
    latest_by_table: Dict[str, str] = field(default_factory=dict)
    # recently completed ids, oldest first (a dict: ordered, and O(1) to look up): late markers are ignored;
    # the value: for one released complete by its END's counts, its position (changes of it up to there
    # that come again are redeliveries, dropped: transaction_intake), else None
    done: Dict[str, Any] = field(default_factory=dict)
    # changes released in source order, not at a transaction's end (transaction_order)
    loose: List[Loose] = field(default_factory=list)
    released_upto: Optional[Any] = None  # highest position of a released transaction
    arrivals: int = 0  # changes taken so far: their arrival index
    begun: Dict[str, None] = field(default_factory=dict)  # BEGIN seen before any change (bounded)
    unmarked: Dict[str, None] = field(default_factory=dict)  # transactions proven to have no markers (bounded)
    # with markers: open transactions a change opened and no BEGIN or END has named yet, in the
    # order they were opened: the only ones _unmarked may prove marker-less (a backlog holds
    # thousands of open transactions whose END came first; walking them all was quadratic)
    unended: Dict[str, None] = field(default_factory=dict)
    # the same transactions per table they changed, in the order of their first change there:
    # _unmarked looks only at those whose change on a table came before the released one's
    unended_tables: Dict[str, Dict[str, None]] = field(default_factory=dict)


def remember(state: MergeState, name: str, tx_id: str, value: Any = None) -> None:
    """Add ``tx_id`` (with ``value``) to one of the state's bounded id memories (oldest first)."""
    memory = getattr(state, name)
    memory[tx_id] = value
    if len(memory) > 2 * _DONE_KEPT:  # trimmed now and then, not on every transaction
        setattr(state, name, dict(list(memory.items())[-_DONE_KEPT:]))


def upgraded(state: Optional[MergeState]) -> Optional[MergeState]:
    """A restored state with the fields added since its snapshot was taken."""
    if state is None:
        return None
    if isinstance(state.done, list):  # a snapshot taken when ``done`` was a list
        state.done = dict.fromkeys(state.done)
    state.ended = list(dict.fromkeys(state.ended))  # a snapshot from when an END that came twice was in it twice
    for name, default in (("loose", list), ("released_upto", lambda: None), ("arrivals", int),
                          ("begun", dict), ("unmarked", dict)):  # a snapshot from before these
        if not hasattr(state, name):
            setattr(state, name, default())
    for transaction in state.open.values():
        if not hasattr(transaction, "first_arrival"):
            transaction.first_arrival, transaction.last_arrival = {}, {}
    if not hasattr(state, "unended"):
        opened = sorted((t.created or 0, tx_id) for tx_id, t in state.open.items() if unended(t))
        state.unended = dict.fromkeys(tx_id for _, tx_id in opened)
    if not hasattr(state, "unended_tables"):
        state.unended_tables = {}
        firsts = [(table, arrival, tx_id) for tx_id in state.unended if tx_id in state.open
                  for table, arrival in getattr(state.open[tx_id], "first_arrival", {}).items()]
        for table, _, tx_id in sorted(firsts, key=lambda entry: entry[1]):
            state.unended_tables.setdefault(table, {})[tx_id] = None
    return state


def forget_ended(state: MergeState, released: set) -> None:
    """Take the ``released`` ids out of ``state.ended``, in place. They are nearly always its
    first ids (the merge's ``_ready`` walks it in END order), and it holds each id once (the
    merge's ``_ended``; ``upgraded`` for older snapshots): one slice deletion then, which also
    drops the leading ids whose transaction is gone (an END that named none of the step's
    tables after all), as ``_ready`` skips them. In a backlog whose END records came first
    ``ended`` can hold thousands of ids (2,247 on average when bench/domain_cpu.py's backlog is
    replayed without steering); filtering it whole at each release was a C loop over them all."""
    ended, opened = state.ended, state.open
    head = found = 0
    for tx_id in ended:
        if tx_id in released:
            found += 1
        elif tx_id in opened:
            break
        head += 1
    del ended[:head]
    if found < len(released):  # (released by idleness or at the end of the input, in another order)
        ended[:] = filterfalse(released.__contains__, ended)


def forget_unended(state: MergeState, transaction: Transaction) -> None:
    """``transaction`` is no longer one _unmarked may prove marker-less."""
    if transaction.id in state.unended:
        del state.unended[transaction.id]
        for table in getattr(transaction, "first_arrival", ()):
            waiting = state.unended_tables.get(table)
            if waiting is not None:
                waiting.pop(transaction.id, None)
                if not waiting:
                    del state.unended_tables[table]


def unended(transaction: Transaction) -> bool:
    """Opened by a change, with no BEGIN or END seen (yet)."""
    return getattr(transaction, "created", None) is not None and transaction.expected is None \
        and not transaction.unreadable_end and not getattr(transaction, "begun", False) and bool(transaction.changes)
