"""How ``merge_transactions`` takes a batch's row changes into its state.

A change is buffered in its transaction (``Transaction.changes``), and the state keeps, per
transaction and table, how many changes came and the arrival index of the first and the last
(``per_table``, ``first_arrival``, ``last_arrival``), and per table the latest transaction seen
(``latest_by_table``); the idle timer is told which transactions were seen.

A table's topic delivers a transaction's changes on it one after the other, and a batch comes
from one topic: a batch is mostly *runs* of changes of one transaction on one table (2.8 changes
on average in the TMS traffic). ``intake`` keeps that bookkeeping once per run, not per change:
within a run a change costs its checks and an append. Whatever is not the usual change (a
marker, a field missing or of another type, a snapshot read, a transaction proven to have no
markers...) goes, after the run before it is recorded, to the general path, one event at a time
(``change`` for changes). Either way the state is what taking the events one at a time in
``change`` gives (tests/operators/test_merge_intake.py holds them to it). With the grouping into
one ``Events`` per batch (``MergeTransactions.group_events``), ~5% of the merge's instructions and
~2% of the Kafka drain's CPU (bench/domain_cpu.py's backlog, 2026-12-02).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, List, Optional, Tuple

from engine.operators.compact_change import STREAMING, TABLE, TX_ID, as_dict
from engine.operators.dead import describe
from engine.operators.transaction_ends import Ends
from engine.operators.transaction_order import Loose
from engine.operators.transaction_state import MergeState, Transaction
from engine.records import DeadLetter


def intake(s: MergeState, markers: bool, events: Iterable[Any], now: datetime, step_id: str,
           other: Callable[[dict, datetime, List[str], bool], Optional[str]],
           slim: bool = False, ends: Optional[Ends] = None) -> Tuple[List[DeadLetter], List[str]]:
    """Take ``events`` in order: the usual changes here, the others with ``other(event, now,
    seen, slim)`` (the reason when the event is refused: it is dead-lettered, the state unchanged).
    Returns the dead letters and the ids of the transactions seen (for the idle timer).

    ``slim``: the events are the step's own and nothing reads a buffered change's Debezium
    ``source`` and ``transaction`` blocks once it is taken (``MergeTransactions.slims``): a
    change buffered in its transaction drops them (one released in source order keeps them).
    Held until its transaction completes, and then freed cold, they were ~11% of the domain
    replay's last-level cache misses (bench/domain_instructions.py). A compact change
    (engine/operators/compact_change.py) is the usual change, as ``debezium`` checked it.
    ``ends``: the usual END record is taken with ``ends.take`` (engine/operators/transaction_ends.py)."""
    deads: List[DeadLetter] = []
    seen: List[str] = []
    opened, unmarked, done = s.open, s.unmarked, s.done
    arrival = s.arrivals
    run: Any = None  # the transaction of the current run; run_tx, run_table: its id and table
    run_tx: Any = None
    run_table: Any = None
    first = 0  # arrival index of the run's first change
    tested = False  # whether each event is first tested for an op (set by the first one that is not a change)
    for event in events:
        if type(event) is tuple:  # a compact change: the usual one, checked by its maker (compact_change.py)
            table, tx = event[TABLE], event[TX_ID]
            usual = tx not in unmarked
        elif tested and type(event) is dict and "op" not in event:  # a marker: no KeyError raised and caught
            if run is None and ends is not None and ends.take(s, event, now):  # (after a run: the general path)
                continue
            usual = False  # (~1,800 instructions each: a batch of the metadata topic raises one, not one a record)
        else:
            try:  # the usual change of a debezium step: every field, a text transaction id, streamed
                table = event["table"]  # (one statement each: no tuple built and unpacked per change)
                before = event["before"]
                after = event["after"]
                tx = event["tx_id"]
                op = event["op"]
                source = event["source"]
                usual = type(tx) is str and type(table) is str and (before is None or type(before) is dict) \
                    and (after is None or type(after) is dict) and op != "r" \
                    and (type(source) is not dict or source.get("snapshot") in STREAMING) and tx not in unmarked
            except Exception:  # noqa: BLE001 - not the usual change: the general path says what it is
                usual = False
                tested = True
        same = usual and tx == run_tx and table == run_table
        if same or usual and (tx in opened or done.get(tx) is None):  # (else maybe a redelivery: change says)
            if slim and type(event) is dict:
                del event["source"]
                event.pop("transaction", None)
            arrival += 1
            if same:
                run.changes.append(event)
                continue
            if run is not None:
                _ran(s, run, run_table, first, arrival - 1, now, seen)
            run = opened.get(tx)
            if run is None:
                run = _opened(s, markers, tx, arrival)
            run.changes.append(event)
            run_tx, run_table, first = tx, table, arrival
            continue
        if run is not None:
            _ran(s, run, run_table, first, arrival, now, seen)
            run = run_tx = run_table = None
        s.arrivals = arrival
        if type(event) is tuple:  # e.g. a change of a released transaction again: the general path, as a dict
            event = as_dict(event)
        try:  # both paths check everything before they change the state
            problem = other(event, now, seen, slim)
        except Exception as exc:  # noqa: BLE001 - e.g. an id too long to be written as text
            problem = describe(exc)
        arrival, unmarked = s.arrivals, s.unmarked
        if problem is not None:
            deads.append(DeadLetter(event, step_id, problem))
    if run is not None:
        _ran(s, run, run_table, first, arrival, now, seen)
    s.arrivals = arrival
    return deads, seen


def all_changes(batch: list) -> bool:
    """Whether every event of ``batch`` is a change (a dict with ``op`` and no ``payload``, or
    a compact change), as ``merge_transactions``' grouping tests each one."""
    for event in batch:  # (one plain loop: fewer instructions than three C passes over the batch)
        if (type(event) is not dict or "op" not in event or "payload" in event) and type(event) is not tuple:
            return False
    return bool(batch)


def _ran(s: MergeState, transaction: Transaction, table: str, first: int, last: int, now: datetime,
         seen: List[str]) -> None:
    """Record a run: the changes ``first``..``last`` (arrival indexes) of ``transaction`` on ``table``."""
    tx_id: Any = transaction.id
    transaction.per_table[table] = transaction.per_table.get(table, 0) + last - first + 1
    if table not in transaction.first_arrival:
        transaction.first_arrival[table] = first
        if tx_id in s.unended:
            s.unended_tables.setdefault(table, {})[tx_id] = None
    transaction.last_arrival[table] = last
    transaction.last_seen = now
    seen.append(tx_id)
    s.latest_by_table[table] = tx_id


def change(s: MergeState, markers: bool, event: Any, now: datetime, seen: List[str],
           slim: bool = False) -> Optional[str]:
    """Buffer one row change (any shape); the reason when it cannot be merged (nothing changed
    then). ``slim``: as ``intake``'s."""
    table, before, after, tx, op, source = (event.get("table"), event.get("before"), event.get("after"),
                                            event.get("tx_id"), event.get("op"), event.get("source"))
    if type(table) is not str or (before is not None and type(before) is not dict) \
            or (after is not None and type(after) is not dict):
        return _unmergeable(table, before, after)
    tx_id = None if tx is None else str(tx)
    # a snapshot read: op r, or source.snapshot saying the change is part of a snapshot
    snapshot = op == "r" or (type(source) is dict and source.get("snapshot") not in STREAMING)
    if not snapshot and _redelivered(s, tx_id, event.get("lsn")):
        return None
    s.arrivals = arrival = s.arrivals + 1
    if tx_id is None or snapshot or tx_id in s.unmarked:  # no END will come: source order
        s.loose.append(Loose(tx_id, [event], snapshot, arrival, now))
        return None
    transaction = s.open.get(tx_id) or _opened(s, markers, tx_id, arrival)
    if slim:
        event.pop("source", None)
        event.pop("transaction", None)
    transaction.changes.append(event)
    _ran(s, transaction, table, arrival, arrival, now, seen)
    return None


def _redelivered(s: MergeState, tx_id: Optional[str], lsn: Any) -> bool:
    """A change of a transaction released complete (its END's counts met), at one of its changes'
    positions: Debezium sent it again (Kafka Connect is at-least-once: after a crash of the worker
    it resends from its last committed offset): in the event already. (A snapshot taken
    before the positions were kept has the highest one: at or before it.)"""
    seen = s.done.get(tx_id) if tx_id is not None and tx_id not in s.open else None
    if seen is None or type(lsn) not in (int, float):
        return False
    return lsn in seen if type(seen) is tuple else lsn <= seen


def _opened(s: MergeState, markers: bool, tx_id: str, arrival: int) -> Transaction:
    """A transaction opened by its first change (``arrival``)."""
    transaction = s.open[tx_id] = Transaction(tx_id, begun=tx_id in s.begun, created=arrival)
    if markers and not transaction.begun:  # with markers, one that BEGIN/END may prove to have none
        s.unended[tx_id] = None
    s.begun.pop(tx_id, None)
    return transaction


def _unmergeable(table: Any, before: Any, after: Any) -> str:
    if type(table) is not str:
        return f"'table' is not a table name: {type(table).__name__} {table!r:.40}"
    side, value = ("before", before) if before is not None and type(before) is not dict else ("after", after)
    return f"'{side}' is not an object: {type(value).__name__}"
