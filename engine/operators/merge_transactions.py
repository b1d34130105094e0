"""``merge_transactions``: one event per (database transaction, domain key), with the net change.

Input: row changes as the ``debezium`` step makes them (``op`` c/u/d/r, ``before``,
``after``, ``table``, ``tx_id``, ``lsn``, ``ts_ms``), optionally mixed with the records of
Debezium's transaction metadata topic (``status`` BEGIN/END, ``id``, ``event_count``,
``data_collections``). All changes of a transaction are buffered; when it is complete, each
row's changes collapse to their net effect (the seed's *filter* phase: the table in
``transaction_net``), and the surviving row changes are grouped by domain key into one output
event. Each net change carries ``lsn`` (the LSN of the row's last source change in the
transaction; None if unknown) and ``seq`` (the index of that change in the transaction's
changes, in arrival order, which per row is source order), so a sink can order its writes per
row; and ``snapshot`` (true for a snapshot read). A change only this step holds, buffered in
its transaction, keeps no Debezium ``source`` and ``transaction`` blocks when ``row`` and
``group`` read neither (``slims``): a dead letter made at its release shows it without them;
from a ``debezium`` step only it reads, it comes as a tuple (engine/operators/compact_change.py).

A transaction is complete (docs/transactions.md says what each rule guarantees):
  * ``markers``: when its END record has been seen and every table has delivered the number
    of events END announces (END may arrive before the data);
  * otherwise: when a later transaction has been seen on every table it touched;
  * always: when no event of it arrived for ``idle``, or at the end of a bounded input.

A malformed END record (counts that are not counts, ``data_collections`` that is not a list of
objects, ...) is dead-lettered with the reason; its transaction then completes by the
later-transaction rule, without holding later transactions back (docs/transactions.md).
Changes that belong to no transaction whose end will be announced (snapshot reads: ``op`` r
or ``source.snapshot`` set, initial or incremental; changes without ``tx_id``; with
``markers``, a transaction proven to have no BEGIN/END) are released in source order around
the transactions, never behind a later-LSN transaction (``transaction_order``).
Change events that cannot be merged (``before``/``after`` not objects, ``table`` not a name)
are dead-lettered when they arrive, so the state only ever holds changes it can merge.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

from engine.operators.compact_change import KEY_FIELDS, as_dicts
from engine.operators.compact_keys import KeysOfChange, compact_keys
from engine.operators.expr import compile_option
from engine.operators.keyed import Events, KeyedStep, KeyLogic, Released, events_of
from engine.operators.transaction_ends import Ends, ended
from engine.operators.transaction_intake import all_changes, change, intake
from engine.operators.transaction_net import key_function, net_change, net_events, row_columns  # noqa: F401 - interface
from engine.operators.transaction_order import Loose, in_table_order, position, positions, runs, take
from engine.operators.transaction_records import MARKERS, announced, entry, marker_id, no_id
from engine.operators.transaction_state import (
    MergeState,
    Transaction,
    forget_ended,
    forget_unended,
    remember,
    unended,
    upgraded,
)
from engine.operators.transaction_steer import Steer
from engine.operators.transaction_timer import IdleTimer, idle_of, waits
from engine.records import KEY_FIELD, DeadLetter

ALL = "*"  # the single key of the "later transaction" mode: one state sees every transaction

# Snapshots taken when this module was engine/operators/transactions.py name its state classes
# by that path (pickle looks classes up by module and name): keep it resolvable.
sys.modules.setdefault("engine.operators.transactions", sys.modules[__name__])


class TransactionMerger(KeyLogic):
    """Buffers transactions and releases them when complete; the compiler drives it."""

    State = MergeState

    def __init__(self, merge: MergeTransactions, state: Optional[MergeState] = None) -> None:
        super().__init__(merge, upgraded(state))
        self._timer = IdleTimer()
        self._ends = Ends(merge.tables, self._timer)  # the usual END records, taken in intake
        self._steer = Steer(merge.step_id, frozenset(merge.tables) if merge.tables else None) \
            if merge.markers else None

    def add(self, items: list, now: datetime) -> Released:
        """Each event is checked before it changes the state: a bad one is dead-lettered only."""
        deads, seen = intake(self.s, self.step.markers, events_of(items), now, self.step.step_id, self._other,
                             self.step.slims and getattr(items, "owned", False), self._ends)
        self._timer.seen_all(now, seen)
        results, failed = self._release(self._ready(), complete=True)
        if self._steer is not None:  # a backlog's sources read what the merge waits for first
            self._steer.after(self.s, now)
        return results, deads + failed

    def _other(self, event: Any, now: datetime, seen: List[str], slim: bool = False) -> Optional[str]:
        """An event ``intake`` leaves to the general path: a BEGIN/END record or a change."""
        if "op" not in event and event.get("status") in MARKERS and "id" in event:  # is_marker, inline
            return self._marker(event, now)
        return change(self.s, self.step.markers, event, now, seen, slim)

    def _ready(self) -> List[Transaction]:
        """Complete transactions that may go now: with markers, in commit (END) order, stopping
        at the first one still waiting for data; without, every complete one that no open
        transaction precedes on one of its tables, in the tables' order."""
        if not self.step.markers:
            complete: List[Transaction] = []
            others: List[Transaction] = []
            for t in self.s.open.values():
                (complete if self._complete(t) else others).append(t)
            return in_table_order(complete, [t for t in others if t.changes]) if complete else []
        ready: List[Transaction] = []
        taken = set()
        for tx_id in self.s.ended:
            transaction = self.s.open.get(tx_id)
            if transaction is None or tx_id in taken:  # gone, or its END came twice
                continue
            if self._complete(transaction):
                ready.append(transaction)
                taken.add(tx_id)
            elif not transaction.unreadable_end:  # its completeness is a guess: it holds no one back
                break
        return ready

    def _marker(self, event: Any, now: datetime) -> Optional[str]:
        """Take a BEGIN/END record; the reason when it is malformed (nothing changed then)."""
        if event.get("status") != "END":
            tx_id = marker_id(event)
            if tx_id is not None and tx_id not in self.s.done:  # it has markers: never loose
                if tx_id in self.s.open:
                    self.s.open[tx_id].begun = True
                    forget_unended(self.s, self.s.open[tx_id])
                else:
                    remember(self.s, "begun", tx_id)
            return None
        tx_id = marker_id(event)
        if tx_id is None:
            return no_id(event)
        try:
            counts = announced(event)
        except ValueError as exc:
            if tx_id not in self.s.done:  # it still commits in this order; its changes complete later
                transaction = self.s.open.setdefault(tx_id, Transaction(tx_id))
                ended(self.s, transaction)
                transaction.unreadable_end, transaction.last_seen = True, now
                self._timer.seen(transaction)
                forget_unended(self.s, transaction)
            return f"END record of transaction {tx_id}: {exc}"
        self._ends.counted(self.s, tx_id, self._ends.ours(counts), now)
        return None

    def _complete(self, transaction: Transaction) -> bool:
        if transaction.expected is not None:
            if "*" in transaction.expected:
                return sum(transaction.per_table.values()) >= transaction.expected["*"]
            per_table = transaction.per_table
            for t, n in transaction.expected.items():  # (a loop: no generator, no all call)
                if not per_table.get(t, 0) >= n:
                    return False
            return True
        if (self.step.markers and not transaction.unreadable_end) or not transaction.per_table:
            return False
        # A later transaction has been seen on every table this one touched.
        return all(self.s.latest_by_table.get(t) != transaction.id for t in transaction.per_table)

    def _unmarked(self, marked: Transaction) -> None:
        """With markers: open transactions proven to have none become loose. One that has no
        BEGIN/END yet, but delivered a change on a table before ``marked`` did, committed before
        it: its END would have come before ``marked``'s (END order is commit order). Per table,
        only the candidates whose first change there came before ``marked``'s are looked at
        (``MergeState.unended_tables``): a backlog holds thousands that came after."""
        firsts = getattr(marked, "first_arrival", {})
        if not firsts or not self.s.unended:
            return
        proven: Dict[str, Transaction] = {}
        for table, first in firsts.items():
            waiting = self.s.unended_tables.get(table)
            stale = []
            for tx_id in waiting or ():  # in the order of their first change on the table
                other = self.s.open.get(tx_id)
                if other is None or tx_id not in self.s.unended or not unended(other):
                    stale.append((tx_id, other))
                    continue
                if other.first_arrival[table] >= first:
                    break
                if other.last_arrival[table] < first:
                    proven[tx_id] = other
            for tx_id, other in stale:
                waiting.pop(tx_id, None)  # type: ignore[union-attr]  # stale: found in it
                if other is not None:
                    forget_unended(self.s, other)
                else:
                    self.s.unended.pop(tx_id, None)
        for other in sorted(proven.values(), key=lambda t: t.created):  # type: ignore[arg-type, return-value]
            del self.s.open[other.id]  # type: ignore[arg-type]
            forget_unended(self.s, other)
            remember(self.s, "done", other.id)  # type: ignore[arg-type]  # an END of it after all is ignored
            remember(self.s, "unmarked", other.id)  # type: ignore[arg-type]  # its later changes are loose too
            arrival = min(getattr(other, "first_arrival", {}).values(), default=0)
            self.s.loose.append(Loose(other.id, as_dicts(other.changes), False, arrival, other.last_seen))

    def _release(self, transactions: List[Transaction], rest: Optional[Callable[[Loose], bool]] = None,
                 complete: bool = False) -> Released:
        """Release ``transactions`` in that order (``complete``: each is, ``_ready``'s), each preceded by
        the loose units not above its position; first, loose units behind what was already released;
        last, the loose units ``rest`` says go (in source order)."""
        results: List[dict] = []
        deads: List[DeadLetter] = []
        if transactions:
            forget_ended(self.s, {t.id for t in transactions})
        self._emit_loose(self.s.released_upto, results, deads, unpositioned=False)  # late ones
        for transaction in transactions:
            if self.s.open.get(transaction.id) is not transaction:  # became loose meanwhile (_unmarked)
                continue
            del self.s.open[transaction.id]
            if transaction.id in self.s.unended:
                forget_unended(self.s, transaction)
            exact = self.step.markers and transaction.expected is not None and not transaction.unreadable_end
            # complete by its END's counts: a change of it that comes again at one of its positions is a redelivery
            lsns = positions(transaction.changes) if exact and complete else None
            remember(self.s, "done", transaction.id, lsns)
            pos = position(transaction.changes, lsns)  # (from the lsns when taken: the changes read once)
            if exact and self.s.unended:  # (else _unmarked has none to prove)
                self._unmarked(transaction)
            if self.s.loose:  # (the usual backlog holds none: no call)
                self._emit_loose(pos, results, deads)
            emitted, failed = self.step.net_changes(transaction)
            results += emitted
            deads += failed
            if pos is not None and (self.s.released_upto is None or pos > self.s.released_upto):
                self.s.released_upto = pos
            if self.s.loose:
                self._emit_loose(self.s.released_upto, results, deads, unpositioned=False)  # unblocked
        if rest is not None and self.s.loose:
            going = [u for u in self.s.loose if rest(u)]
            self.s.loose = [u for u in self.s.loose if not rest(u)]
            self._emit(take(going, None, everything=True)[0], results, deads)
        return results, deads

    def _emit_loose(self, upto: Optional[Any], results: List[dict], deads: List[DeadLetter],
                    unpositioned: bool = True) -> None:
        """Take the loose units that go now (``transaction_order.take``) out of the state and
        emit them; nothing to do in the usual backlog, which holds none."""
        if not self.s.loose:
            return
        earliest: Dict[str, int] = {}
        for transaction in self.s.open.values():
            for table, arrival in getattr(transaction, "first_arrival", {}).items():
                if arrival < earliest.get(table, arrival + 1):
                    earliest[table] = arrival
        taken, self.s.loose = take(self.s.loose, upto, unpositioned=unpositioned, earliest=earliest)
        self._emit(taken, results, deads)

    def _emit(self, units: List[Loose], results: List[dict], deads: List[DeadLetter]) -> None:
        for tx_id, changes, snapshot in runs(units):
            emitted, failed = self.step.net_changes(Transaction(tx_id, changes, snapshot=snapshot))
            results += emitted
            deads += failed

    def due(self, now: datetime) -> Released:
        """Complete transactions (with the loose changes before them), idle transactions, idle
        loose changes and malformed END records that never got a change go."""
        results, deads = self._release(self._ready(), complete=True)
        if self._steer is not None:
            self._steer.after(self.s, now)
        if self.step.idle is None:
            return results, deads
        idle = self.step.idle
        going = [t for t in self.s.open.values() if waits(t) and t.last_seen + idle <= now]
        more, failed = self._release(in_table_order(going, [], hold=False), lambda unit: unit.last_seen + idle <= now)
        return results + more, deads + failed

    def flush(self) -> Released:
        if self._steer is not None:
            self._steer.withdraw()
        going = [t for t in self.s.open.values() if waits(t)]
        return self._release(in_table_order(going, [], hold=False), lambda unit: True)

    def next_notification(self) -> Optional[datetime]:
        if self.step.idle is None:
            return None
        waiting = [u.last_seen for u in self.s.loose if u.last_seen is not None]
        oldest = self._timer.oldest(self.s.open)  # of the waiting transactions (transaction_timer)
        if oldest is not None:
            waiting.append(oldest)
        return min(waiting) + self.step.idle if waiting else None

    def resume(self, now: datetime) -> None:
        self._timer.forget()
        for transaction in self.s.open.values():  # downtime is not idleness of the source
            transaction.last_seen = now
        for unit in self.s.loose:
            unit.last_seen = now

    # never disposable (KeyLogic's default): the one state also remembers per-table progress


class MergeTransactions(KeyedStep):
    """Compiles the row and domain-key expressions and builds the per-key logic."""

    Logic = TransactionMerger

    def __init__(self, step_id: str, config: dict, input_fields) -> None:
        config = config or {}
        self.step_id = step_id
        self.row = compile_option(config.get("row", "table + ':' + str(coalesce(after.id, before.id))"),
                                  input_fields, ("row",))
        self.group_by = compile_option(config["group"], input_fields, ("group",)) if config.get("group") else None
        self.markers = bool(config.get("markers", False))
        # With markers: the tables this step reads; END's counts for other tables are ignored.
        self.tables = set(config["tables"]) if config.get("tables") else None
        self.idle = idle_of(config)
        self._keys: Optional[Tuple[Callable, Optional[Callable]]] = None  # row and group key functions
        self._group_columns: Optional[frozenset] = None  # the columns the group reads (row_columns)
        # whether a buffered change may drop Debezium's blocks (transaction_intake.intake's slim)
        self.slims = not {"source", "transaction"} & (self.row.fields | getattr(self.group_by, "fields", set()))
        self.output_fields = {"tx_id": "str", "key": "str", "changes": "json", "ops": "json", "tables": "json",
                              "lsn": "any", "ts_ms": "int", "source_ts_ms": "int", "snapshot": "bool",
                              KEY_FIELD: "str"}

    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """:meth:`group_events` as ``(key value, event)`` pairs."""
        groups, deads = self.group_events(batch)
        return [(key, [(ALL, event) for event in events]) for key, events in groups], deads

    def group_events(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """One key sees every transaction, so they come out in commit order (one worker: the
        database's commit log is serial too); its events as one ``Events``, no pair per event."""
        deads: List[DeadLetter] = []
        if all_changes(batch):  # the usual batch, from the debezium step: taken whole, no entry per event
            events = Events(batch)
            events.key = ALL
            return [(ALL, events)], deads
        events = Events()
        for original in batch:
            if type(original) is tuple or type(original) is dict and "op" in original and "payload" not in original:
                # a change (a compact one, engine/operators/compact_change.py, or a dict: as entry)
                events.append(original)
                continue
            event, dead = entry(original, self.step_id)
            if dead is None:
                events.append(event)
            else:
                deads.append(dead)
        events.key = ALL
        return ([(ALL, events)] if events else []), deads

    def group_events_owned(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """``group_events`` of events only this step holds (engine/compiler/ownership.py): its
        buffered changes may then be slimmed (``slims``)."""
        groups, deads = self.group_events(batch)
        for _, events in groups:
            cast(Events, events).owned = True
        return groups, deads

    def net_changes(self, transaction: Transaction) -> Released:
        """One output event per domain key of the transaction's surviving row changes (``net_events``)."""
        row, group_by = self._keys or self.key_functions()  # (not *self._keys: a call with positional arguments only)
        return net_events(self.step_id, row, group_by, transaction.id, transaction.changes, transaction.snapshot,
                          self._group_columns)

    def key_functions(self) -> Tuple[Callable, Optional[Callable]]:
        """The row and group key functions, made at their first use (``validate`` never makes them)."""
        if self._keys is None:
            self._keys = (key_function(self.row, self.step_id),
                          None if self.group_by is None else key_function(self.group_by, self.step_id))
            self._group_columns = None if self.group_by is None else row_columns(self.group_by)
        return self._keys

    def compacts(self) -> bool:
        """Whether a ``debezium`` step that alone feeds this step may hand it compact changes
        (engine/operators/compact_change.py): its keys read only a change's table and rows, it slims."""
        return self.slims and self.row.fields | getattr(self.group_by, "fields", set()) <= KEY_FIELDS

    def compact_keys(self) -> Optional[KeysOfChange]:
        """``(table, before, after) -> (row key, group key)`` of compact changes, the values of
        ``key_functions`` (the row's as the group's without ``group``); None unless ``compacts``."""
        if not self.compacts():
            return None
        row, group_by = self.key_functions()
        return compact_keys(self.row, self.group_by, row, group_by or row, self.step_id)

