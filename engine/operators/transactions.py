"""``merge_transactions``: one event per (database transaction, domain key), with the net change.

Input: row changes as ``cast: {debezium: true}`` makes them (``op`` c/u/d/r, ``before``,
``after``, ``table``, ``tx_id``, ``lsn``, ``ts_ms``), optionally mixed with the records of
Debezium's transaction metadata topic (``status`` BEGIN/END, ``id``, ``event_count``,
``data_collections``). All changes of a transaction are buffered; when it is complete, each
row's changes collapse to their net effect (the seed's *filter* phase):

    INSERT, UPDATE*          -> INSERT of the final row
    DELETE + INSERT          -> UPDATE (nothing if the row is identical)
    UPDATE + UPDATE          -> one UPDATE, first before to last after (nothing if equal)
    INSERT ... DELETE        -> nothing
    no-op UPDATE             -> nothing

and the surviving row changes are grouped by domain key into one output event.

A transaction is complete (docs/transactions.md says what each rule guarantees):
  * ``markers``: when its END record has been seen and every table has delivered the number
    of events END announces (END may arrive before the data);
  * otherwise: when a later transaction has been seen on every table it touched;
  * always: when no event of it arrived for ``idle``, or at the end of a bounded input.

A malformed END record (counts that are not counts, ``data_collections`` that is not a list of
objects, ...) is dead-lettered with the reason; its transaction then completes by the
later-transaction rule, without holding later transactions back (docs/transactions.md).
Change events that cannot be merged (``before``/``after`` not objects, ``table`` not a name)
are dead-lettered when they arrive, so the state only ever holds changes it can merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Tuple

from engine.errors import ConfigError
from engine.operators.dead import describe
from engine.durations import HINT as DURATION_HINT
from engine.durations import parse_duration
from engine.operators.expr import compile_option
from engine.operators.map import key_text
from engine.operators.transaction_records import announced, is_marker, marker_id, no_id, unwrapped
from engine.records import DeadLetter

EXISTED_BEFORE = {"u", "d"}
EXISTS_AFTER = {"c", "u", "r"}
_DONE_KEPT = 1000  # completed ids remembered at least, to ignore a marker that comes late or twice
ALL = "*"  # the single key of the "later transaction" mode: one state sees every transaction


@dataclass
class Transaction:
    """The buffered changes of one transaction, in arrival order."""

    id: str
    changes: List[dict] = field(default_factory=list)
    per_table: Dict[str, int] = field(default_factory=dict)
    expected: Optional[Dict[str, int]] = None  # from the END marker
    last_seen: Optional[datetime] = None
    unreadable_end: bool = False  # its END was malformed: complete by the later-transaction rule


@dataclass
class MergeState:
    """Plain, picklable state: open transactions and, per table, the latest transaction seen."""

    open: Dict[str, Transaction] = field(default_factory=dict)
    ended: List[str] = field(default_factory=list)  # END markers in arrival order = commit order
    latest_by_table: Dict[str, str] = field(default_factory=dict)
    # recently completed ids, oldest first (a dict: ordered, and O(1) to look up): late markers are ignored
    done: Dict[str, None] = field(default_factory=dict)


class MergeTransactions:
    """Compiles the row and domain-key expressions and builds the per-key logic."""

    kind = "keyed"

    def __init__(self, step_id: str, config: dict, input_fields, context=None) -> None:
        config = config or {}
        self.step_id = step_id
        self.row = compile_option(config.get("row", "table + ':' + str(coalesce(after.id, before.id))"),
                                  input_fields, ("row",))
        self.group_by = compile_option(config["group"], input_fields, ("group",)) if config.get("group") else None
        self.markers = bool(config.get("markers", False))
        # With markers: the tables this step reads; END's counts for other tables are ignored.
        self.tables = set(config["tables"]) if config.get("tables") else None
        self.idle = _idle(config)
        self.output_fields = {"tx_id": "str", "key": "str", "changes": "json", "ops": "json", "tables": "json",
                              "lsn": "any", "ts_ms": "int", "_key": "str"}

    def group(self, batch: list) -> Tuple[List[Tuple[str, list]], List[DeadLetter]]:
        """One key sees every transaction, so they come out in commit order (one worker: the
        database's commit log is serial too)."""
        pairs: list = []
        deads: List[DeadLetter] = []
        for original in batch:
            event = original
            try:
                if "payload" in event and "schema" in event:  # a metadata record with its Connect schema
                    event = unwrapped(event)
                tx = marker_id(event) if is_marker(event) else event.get("tx_id")
            except Exception as exc:  # noqa: BLE001 - this event, not the batch
                reason = describe(exc) if type(event) is dict else f"not an object: {type(event).__name__}"
                deads.append(DeadLetter(original, self.step_id, reason))
                continue
            if tx is None:
                deads.append(DeadLetter(original, self.step_id, no_id(event)))
                continue
            pairs.append((ALL, event))
        return ([(ALL, pairs)] if pairs else []), deads

    def logic(self, state: Optional[MergeState] = None) -> "TransactionMerger":
        return TransactionMerger(self, state or MergeState())

    def net_changes(self, transaction: Transaction) -> Tuple[List[dict], List[DeadLetter]]:
        """One output event per domain key of the transaction's surviving row changes; a row
        (or a key) that cannot be merged dead-letters its changes, not the transaction."""
        rows: Dict[str, List[dict]] = {}
        deads: List[DeadLetter] = []
        for change in transaction.changes:
            try:
                rows.setdefault(key_text(self.row(change)), []).append(change)
            except Exception as exc:  # noqa: BLE001
                deads.append(DeadLetter(change, self.step_id, f"row: {describe(exc)}"))
        groups: Dict[str, List[Tuple[dict, List[dict]]]] = {}
        for row_key, changes in rows.items():
            try:
                net = net_change(changes)
            except Exception as exc:  # noqa: BLE001 - this row's changes, not the transaction
                deads += [DeadLetter(c, self.step_id, f"net change: {describe(exc)}") for c in changes]
                continue
            if net is None:
                continue
            try:
                group = key_text(self.group_by(changes[-1]) if self.group_by is not None else row_key)
            except Exception as exc:  # noqa: BLE001
                deads += [DeadLetter(c, self.step_id, f"group: {describe(exc)}") for c in changes]
                continue
            groups.setdefault(group, []).append((net, changes))
        events = []
        for key, nets in groups.items():
            try:
                events.append(self._event(transaction, key, [(net, changes[-1]) for net, changes in nets]))
            except Exception as exc:  # noqa: BLE001 - e.g. lsn values that cannot be compared
                deads += [DeadLetter(c, self.step_id, f"key {key!r}: {describe(exc)}") for _, cs in nets for c in cs]
        return events, deads

    @staticmethod
    def _event(transaction: Transaction, key: str, nets: List[Tuple[dict, dict]]) -> dict:
        last = nets[-1][1]
        changes = [net for net, _ in nets]
        ops: Dict[str, str] = {}
        for change in changes:  # per table, the strongest change: created or deleted over updated
            ops[change["table"]] = change["op"] if ops.get(change["table"], "u") == "u" else ops[change["table"]]
        return {"tx_id": transaction.id, "key": key, "changes": changes, "ops": ops,
                "tables": sorted(ops),
                "lsn": max((c.get("lsn") for _, c in nets if c.get("lsn") is not None), default=None),
                "ts_ms": last.get("ts_ms"), "_key": key}


def net_change(changes: List[dict]) -> Optional[dict]:
    """The net effect of one row's changes within a transaction, or None when there is none."""
    first, last = changes[0], changes[-1]
    existed = first.get("op") in EXISTED_BEFORE
    exists = last.get("op") in EXISTS_AFTER
    before = first.get("before") if existed else None
    after = last.get("after") if exists else None
    if not existed and not exists:
        return None
    if existed and exists:
        if before == after:
            return None
        op = "u"
    else:
        op = "c" if exists else "d"
    return {"table": last.get("table"), "op": op, "before": before, "after": after,
            "changed": _changed_columns(before, after), "lsn": last.get("lsn"), "merged": len(changes)}


def _changed_columns(before: Optional[dict], after: Optional[dict]) -> List[str]:
    if not before or not after:  # inserted or deleted: every column that has a value
        return sorted([k for k, v in (after or before or {}).items() if v is not None])
    if before.keys() == after.keys():  # the usual row: same columns, few of them changed
        return sorted([k for k, v in before.items() if after[k] != v])
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


class TransactionMerger:
    """Buffers transactions and releases them when complete; the compiler drives it."""

    def __init__(self, merge: MergeTransactions, state: MergeState) -> None:
        self.merge = merge
        self.s = state
        if isinstance(state.done, list):  # a snapshot taken when ``done`` was a list
            state.done = dict.fromkeys(state.done)

    def add(self, pairs: List[tuple], now: datetime) -> Tuple[List[dict], List[DeadLetter]]:
        """Each event is checked before it changes the state: a bad one is dead-lettered only."""
        deads: List[DeadLetter] = []
        for _, event in pairs:
            try:  # both check everything before they change the state
                problem = self._marker(event, now) if is_marker(event) else self._change(event, now)
            except Exception as exc:  # noqa: BLE001 - e.g. an id too long to be written as text
                problem = describe(exc)
            if problem is not None:
                deads.append(DeadLetter(event, self.merge.step_id, problem))
        results, failed = self._release(self._ready())
        return results, deads + failed

    def _ready(self) -> List[Transaction]:
        """Complete transactions that may go now: with markers, in commit (END) order, stopping
        at the first one still waiting for data; without, every complete one."""
        if not self.merge.markers:
            return [t for t in list(self.s.open.values()) if self._complete(t)]
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

    def _marker(self, event: dict, now: datetime) -> Optional[str]:
        """Take a BEGIN/END record; the reason when it is malformed (nothing changed then)."""
        if event.get("status") != "END":
            return None
        tx_id = marker_id(event)
        if tx_id is None:
            return no_id(event)
        try:
            counts = announced(event)
        except ValueError as exc:
            if tx_id not in self.s.done:  # it still commits in this order; its changes complete later
                transaction = self.s.open.setdefault(tx_id, Transaction(tx_id))
                transaction.unreadable_end, transaction.last_seen = True, now
                self.s.ended.append(tx_id)
            return f"END record of transaction {tx_id}: {exc}"
        if tx_id in self.s.done:
            return None
        if self.merge.tables is not None:
            counts = {t: n for t, n in counts.items() if t in self.merge.tables}
            if not counts and not getattr(self.s.open.get(tx_id), "changes", None):  # none of our tables
                self.s.open.pop(tx_id, None)
                self._remember_done(tx_id)
                return None
        transaction = self.s.open.setdefault(tx_id, Transaction(tx_id))  # (changes END did not count: go now)
        transaction.expected = counts
        transaction.last_seen = now
        self.s.ended.append(tx_id)
        return None

    def _change(self, event: dict, now: datetime) -> Optional[str]:
        """Buffer a row change; the reason when it cannot be merged (nothing changed then)."""
        table, before, after = event.get("table"), event.get("before"), event.get("after")
        if type(table) is not str or (before is not None and type(before) is not dict) \
                or (after is not None and type(after) is not dict):
            return _unmergeable(table, before, after)
        tx_id = str(event.get("tx_id"))
        transaction = self.s.open.setdefault(tx_id, Transaction(tx_id))
        transaction.changes.append(event)
        transaction.per_table[table] = transaction.per_table.get(table, 0) + 1
        transaction.last_seen = now
        self.s.latest_by_table[table] = tx_id
        return None

    def _complete(self, transaction: Transaction) -> bool:
        if transaction.expected is not None:
            if "*" in transaction.expected:
                return sum(transaction.per_table.values()) >= transaction.expected["*"]
            return all(transaction.per_table.get(t, 0) >= n for t, n in transaction.expected.items())
        if (self.merge.markers and not transaction.unreadable_end) or not transaction.per_table:
            return False
        # A later transaction has been seen on every table this one touched.
        return all(self.s.latest_by_table.get(t) != transaction.id for t in transaction.per_table)

    def _release(self, transactions: List[Transaction]) -> Tuple[List[dict], List[DeadLetter]]:
        results, deads = [], []
        released = {t.id for t in transactions}
        if released:
            self.s.ended = [tx for tx in self.s.ended if tx not in released]
        for transaction in transactions:
            self.s.open.pop(transaction.id, None)
            self._remember_done(transaction.id)
            emitted, failed = self.merge.net_changes(transaction)
            results += emitted
            deads += failed
        return results, deads

    def _remember_done(self, tx_id: str) -> None:
        done = self.s.done
        done[tx_id] = None
        if len(done) > 2 * _DONE_KEPT:  # trimmed now and then, not on every transaction
            self.s.done = dict.fromkeys(list(done)[-_DONE_KEPT:])

    def due(self, now: datetime) -> Tuple[List[dict], List[DeadLetter]]:
        """Idle transactions (and malformed END records that never got a change) go."""
        if self.merge.idle is None:
            return [], []
        return self._release([t for t in self.s.open.values() if _waits(t) and t.last_seen + self.merge.idle <= now])

    def flush(self) -> Tuple[List[dict], List[DeadLetter]]:
        return self._release([t for t in self.s.open.values() if _waits(t)])

    def next_notification(self) -> Optional[datetime]:
        waiting = [t.last_seen for t in self.s.open.values() if _waits(t) and t.last_seen is not None]
        if self.merge.idle is None or not waiting:
            return None
        return min(waiting) + self.merge.idle

    def resume(self, now: datetime) -> None:
        for transaction in self.s.open.values():  # downtime is not idleness of the source
            transaction.last_seen = now

    def state(self) -> MergeState:
        return self.s

    @property
    def disposable(self) -> bool:
        return False  # the one state also remembers per-table progress


def _unmergeable(table: Any, before: Any, after: Any) -> str:
    if type(table) is not str:
        return f"'table' is not a table name: {type(table).__name__} {table!r:.40}"
    side, value = ("before", before) if before is not None and type(before) is not dict else ("after", after)
    return f"'{side}' is not an object: {type(value).__name__}"


def _waits(transaction: Transaction) -> bool:
    """Released by idleness or the end of input: it has changes, or only a malformed END."""
    return bool(transaction.changes) or transaction.unreadable_end


def _idle(config: dict) -> Optional[timedelta]:
    if "idle" not in config:
        return None
    try:
        return parse_duration(config["idle"])
    except ValueError as exc:
        raise ConfigError(str(exc), ("idle",), hint=DURATION_HINT) from None
