"""The net change of one row's changes within a transaction (``merge_transactions``' filter phase).

    INSERT, UPDATE*          -> INSERT of the final row
    DELETE + INSERT          -> UPDATE (nothing if the row is identical)
    UPDATE + UPDATE          -> one UPDATE, first before to last after (nothing if equal)
    INSERT ... DELETE        -> nothing
    no-op UPDATE             -> nothing
    snapshot read (r)        -> INSERT

The result carries ``table``, ``op``, ``before``, ``after``, ``changed`` (columns whose values
differ), ``lsn`` (of the row's last change) and ``merged`` (how many changes it replaces);
``net_events`` adds ``seq`` (the index of that last change in its transaction) and
``snapshot`` (true when that change is a snapshot read: the row as it was, not a change made
by the application; ``op`` stays ``c``).

A row whose update moves it to another domain key (a handling unit's ``order_id`` changed: the
group of its row before the transaction is not the group of its last change) is in the events
of both keys, the key it left and the key it joined, with the same net change.
"""

from __future__ import annotations

from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

from engine import unavailable
from engine.expressions import Expression
from engine.expressions.parser import parse
from engine.expressions.runtime import constant
from engine.expressions.syntax import Field, Node
from engine.operators.codegen import build_function
from engine.operators.compact_change import (
    AFTER,
    BEFORE,
    GROUP,
    LSN,
    OP,
    ROW,
    SOURCE_TS_MS,
    TABLE,
    TS_MS,
    Change,
    as_dict,
    as_dicts,
)
from engine.operators.dead import describe
from engine.records import KEY_FIELD, DeadLetter

EXISTED_BEFORE = {"u", "d"}
EXISTS_AFTER = {"c", "u", "r"}


def net_change(changes: List[Change]) -> Optional[dict]:
    """The net effect of one row's changes within a transaction, or None when there is none."""
    first, last = changes[0], changes[-1]
    try:  # the usual changes have every field: read by subscripts (~100 instructions less each)
        existed, exists = first["op"] in EXISTED_BEFORE, last["op"] in EXISTS_AFTER
        before = first["before"] if existed else None
        after = last["after"] if exists else None
        table, lsn, last_op = last["table"], last["lsn"], last["op"]
    except KeyError:  # a field missing: null
        existed, exists = first.get("op") in EXISTED_BEFORE, last.get("op") in EXISTS_AFTER
        before = first.get("before") if existed else None
        after = last.get("after") if exists else None
        table, lsn, last_op = last.get("table"), last.get("lsn"), last.get("op")
    if not existed and not exists:
        if any(change.get("op") == "t" for change in changes):  # (only here: no cost on a row's usual way)
            raise ValueError(f"a TRUNCATE of table '{table}' (Debezium's op t) empties the table, which "
                             "no row's net change can say; delete its rows downstream, or let Debezium skip "
                             "truncates (skipped.operations: t)")
        return None
    # (only an UPDATE's after carries placeholders: Debezium's inserts and reads have every value)
    if len(changes) > 1 and last_op == "u" and type(after) is dict and unavailable.carries(after):
        after = _toast_filled(changes, after)
    return _netted(existed, exists, before, after, table, lsn, len(changes))


def _netted(existed: bool, exists: bool, before, after, table, lsn, merged: int) -> Optional[dict]:
    """The net change of a row that existed before the transaction or exists after it (or both)."""
    if existed and exists:
        if before == after:
            return None
        op = "u"
    else:
        op = "c" if exists else "d"
    return {"table": table, "op": op, "before": before, "after": after,
            "changed": _changed_columns(before, after), "lsn": lsn, "merged": merged}


def _toast_filled(changes: List[dict], after: dict) -> dict:
    """``after`` with Debezium's unchanged-TOAST placeholders (engine/unavailable.py) taken from the
    row's latest earlier value in the transaction: an UPDATE leaving a large value unchanged
    carries the placeholder, not what the transaction's INSERT or earlier UPDATE wrote there. A
    delete forgets the row's values; a placeholder with no earlier value stays as sent."""
    written: dict = {}
    for change in changes[:-1]:
        if change.get("op") == "d":
            written = {}
            continue
        row = change.get("after")
        if type(row) is dict:
            written.update(unavailable.filled(row, written))
    return unavailable.filled(after, written)


def _changed_columns(before: Optional[dict], after: Optional[dict]) -> List[str]:
    # (comprehensions: on a row of ~10-25 columns, LIST_APPEND per column beats a loop's append calls)
    if not before or not after:  # inserted or deleted: every column that has a value
        changed = [k for k, v in (after or before or {}).items() if v is not None]
    elif len(before) == len(after):  # the usual update: the same columns (a column after lacks: KeyError)
        try:
            changed = [k for k, v in before.items() if after[k] != v]
        except KeyError:
            return _changed_keys(before, after)
    else:
        return _changed_keys(before, after)
    changed.sort()
    return changed


def _changed_keys(before: dict, after: dict) -> List[str]:
    """The columns whose values differ, of two rows with other columns."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def key_function(expression: Expression, step_id: str) -> Callable[[dict], Optional[str]]:
    """``key_text(expression(e))`` as one generated function: the expression's strict code
    first (top-level fields read as ``e[name]``, a third of ``e.get(name)``'s cost), and where
    that raises (an event without a field it reads), the plain code, whose value or error
    counts. Built when first used: ``validate`` never translates the strict code."""
    source = (f"def key(e):\n    try:\n        v = ({expression.strict()[0]})\n"
              "    except _Exception:\n        v = _sure(e)\n"
              f"    return {key_text_code('v')}\n")
    names = {"_sure": expression.function, "_Exception": Exception}  # (no builtins there)
    return build_function("key", source, step_id, names)


def key_text_code(v: str) -> str:
    """``key_text`` of the variable ``v`` written out: a call less (an id)."""
    return f"{v} if {v} is None or _type({v}) is _str else _str({v}) if _type({v}) is {constant(int)} else _f_str({v})"


def row_columns(expression: Expression) -> Optional[FrozenSet[str]]:
    """The columns of ``before``/``after`` that ``expression`` reads (``after.order_id``), or
    None when it may read a whole row (``after``, ``after[name]``) or cannot be parsed."""
    columns: set = set()
    nodes: list = [parse(expression.text)]
    while nodes:
        node = nodes.pop()
        if type(node) is Field:
            path = node.path
            if path[0] in ("before", "after"):
                if len(path) < 2 or type(path[1]) is not str:
                    return None
                columns.add(path[1])
            continue
        for name in type(node).__slots__:
            value = getattr(node, name)
            if isinstance(value, Node):
                nodes.append(value)
            elif type(value) is tuple:
                nodes += [item for item in value if isinstance(item, Node)]
    return frozenset(columns)


def net_events(step_id: str, row: Callable, group_by: Optional[Callable], tx_id: Optional[str],
               changes_in: List[Change], snapshot: bool = False,
               group_columns: Optional[FrozenSet[str]] = None) -> Tuple[List[dict], List[DeadLetter]]:
    """One output event per domain key of a transaction's surviving row changes (``row`` and
    ``group_by``: a change's key text, ``key_function``s); a row (or a key) that cannot be merged
    dead-letters its changes, not the transaction. Each net change gets ``seq`` and ``snapshot``
    (``snapshot``: the changes are snapshot reads). An update that changed a column ``group_by``
    reads (``group_columns``, ``row_columns``; None: any column) is also in the event of the key
    of the row as it was (its group as a delete of its ``before``), when that key differs."""
    rows: Dict[Optional[str], List[Change]] = {}  # (a row's key may be null)
    seqs: Dict[Optional[str], int] = {}  # per row, the index of its last change in the transaction
    deads: List[DeadLetter] = []
    compact = False  # whether any change is compact (engine/operators/compact_change.py): its keys taken already
    for seq, change in enumerate(changes_in):
        if type(change) is tuple:
            row_key = change[ROW]
            compact = True
        else:
            try:
                row_key = row(change)
            except Exception as exc:  # noqa: BLE001
                deads.append(DeadLetter(change, step_id, f"row: {describe(exc)}"))
                continue
        if row_key in rows:  # (a test and a store: no setdefault call, no list built for nothing)
            rows[row_key].append(change)
        else:
            rows[row_key] = [change]
        seqs[row_key] = seq
    groups: Dict[Optional[str], List[Tuple[dict, List[Change]]]] = {}
    net: Optional[dict]
    for row_key, changes in rows.items():
        last = changes[-1]
        if type(last) is tuple and len(changes) == 1:  # the usual row: one compact change, net_change's table
            # for it written out (through _compact_net: +6,300 instructions a message, 2026-12-05)
            op = last[OP]
            before = None if op == "c" else last[BEFORE]
            after = None if op == "d" else last[AFTER]
            if op == "u" and before == after:
                continue
            net = {"table": last[TABLE], "op": op, "before": before, "after": after,
                   "changed": _changed_columns(before, after), "lsn": last[LSN], "merged": 1,
                   "seq": seqs[row_key], "snapshot": snapshot}
            group = last[GROUP]
        else:
            try:
                net = _compact_net(changes) if compact else net_change(changes)
            except Exception as exc:  # noqa: BLE001 - this row's changes, not the transaction
                deads += [DeadLetter(as_dict(c), step_id, f"net change: {describe(exc)}") for c in changes]
                continue
            if net is None:
                continue
            net["seq"] = seqs[row_key]
            net["snapshot"] = snapshot
            try:
                group = last[GROUP] if type(last) is tuple else group_by(last) if group_by is not None else row_key
            except Exception as exc:  # noqa: BLE001
                deads += [DeadLetter(as_dict(c), step_id, f"group: {describe(exc)}") for c in changes]
                continue
        if group in groups:
            groups[group].append((net, changes))
        else:
            groups[group] = [(net, changes)]
        if net["op"] == "u" and group_by is not None and net["before"] \
                and (group_columns is None or not group_columns.isdisjoint(net["changed"])):
            _moved(group_by, group, net, changes, groups)
    events = []
    for key, nets in groups.items():
        try:
            events.append(_event(tx_id, key, nets, snapshot))
        except Exception as exc:  # noqa: BLE001 - e.g. lsn values that cannot be compared
            deads += [DeadLetter(as_dict(c), step_id, f"key {key!r}: {describe(exc)}") for _, cs in nets for c in cs]
    return events, deads


def _compact_net(changes: list) -> Optional[dict]:
    """``net_change`` of a row's changes, some of them compact: read as tuples when all are and
    no TOAST placeholder is to be filled, else as dicts."""
    first, last = changes[0], changes[-1]
    if any(type(change) is not tuple for change in changes) \
            or (last[OP] == "u" and type(last[AFTER]) is dict and unavailable.carries(last[AFTER])):
        return net_change(as_dicts(changes))
    existed, exists = first[OP] in EXISTED_BEFORE, last[OP] in EXISTS_AFTER
    if not existed and not exists:  # created and deleted within the transaction (a compact change is never a truncate)
        return None
    return _netted(existed, exists, first[BEFORE] if existed else None, last[AFTER] if exists else None,
                   last[TABLE], last[LSN], len(changes))


def _moved(group_by: Callable, group: Optional[str], net: dict, changes: List[Change],
           groups: Dict[Optional[str], List[Tuple[dict, List[Change]]]]) -> None:
    """A row the update moved from one key to another is also in the event of the key it left."""
    try:
        left = group_by(dict(as_dict(changes[0]), op="d", before=net["before"], after=None))
    except Exception:  # noqa: BLE001 - the row as it was has no key: only the key it joined has it
        return
    if left is not None and left != group:
        groups.setdefault(left, []).append((dict(net), changes))


def _event(tx_id: Optional[str], key: Optional[str], nets: List[Tuple[dict, List[Change]]],
           snapshot: bool = False) -> dict:
    """The event of one domain key: ``nets`` are its rows' (net change, changes); ``snapshot``:
    they are snapshot reads."""
    changes = []  # (plain loops: comprehensions, generators and iterator objects cost more here)
    ops: Dict[str, str] = {}
    for change, _ in nets:  # per table, the strongest change: created or deleted over updated
        changes.append(change)
        table = change["table"]
        if ops.get(table, "u") == "u":
            ops[table] = change["op"]
    # a net change's lsn is its row's last change's: the highest of them (one row: its own)
    lsn = changes[0]["lsn"]
    if len(changes) > 1:  # (max's way written out, as for ``at`` below)
        lsn = None
        for change in changes:
            value = change["lsn"]
            if value is not None and (lsn is None or value > lsn):
                lsn = value
    # the commit time (a transaction's changes share it): the highest, so that the order they came in decides nothing
    # (max's way written out: a plain loop, no generator nor iterator objects)
    at = None
    for _, cs in nets:
        for one in cs:  # (not ``change``: a dict above, these may be compact tuples)
            value = one[SOURCE_TS_MS] if type(one) is tuple else one.get("source_ts_ms")
            if value is not None and (at is None or value > at):
                at = value
    last = nets[-1][1][-1]
    return {"tx_id": tx_id, "key": key, "changes": changes, "ops": ops, "tables": sorted(ops), "lsn": lsn,
            "ts_ms": last[TS_MS] if type(last) is tuple else last.get("ts_ms"), "source_ts_ms": at,
            "snapshot": snapshot, KEY_FIELD: key}


