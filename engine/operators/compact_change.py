"""A row change handed from a ``debezium`` step to the ``merge_transactions`` step that alone
reads it, as a tuple instead of the step's 10-key dict.

The merge buffers a transaction's changes until its END record and the counts it announces
have come, then keys them by row and domain key and nets them. Each change as a dict costs its
making, its keys' look-ups at intake and at release, and its freeing, cold, a batch or more
later: the compact form is what the merge reads of it, nothing else. It is used only where
nothing else can see it (the compiler's proof, ``link_compact`` in
engine/compiler/ownership.py: the debezium step owns its input, the merge is its only reader,
owns its input and slims its buffered changes), and only for the usual change: a streamed
``c``, ``u`` or ``d`` of a transaction, whose row and group keys the merge's key functions
gave without failing (``Debezium.compact_later``); any other change stays a dict, and the merge
takes both. Wherever a change leaves the usual path (a dead letter, a change released in
source order, a moved row's key), it is the dict again (``as_dict``), field for field what the
merge would have buffered (the slimmed dict: no ``source``, no ``transaction``).

Layout (``ROW`` .. ``GROUP``): the row key, the operation, the two rows, the table, the lsn,
Debezium's ``ts_ms``, the commit time (``source.ts_ms``), the transaction id (text), the group
key (the row key when the merge has no ``group``).
"""

from __future__ import annotations

from typing import Any, List

ROW, OP, BEFORE, AFTER, TABLE, LSN, TS_MS, SOURCE_TS_MS, TX_ID, GROUP = range(10)
# values of source.snapshot outside a snapshot: a change is a snapshot read when its op is r or
# its source.snapshot is another value (merge_transactions' _change); "false", Debezium's, first
# (a test of membership compares in order; none of these comparisons raises)
STREAMING = ("false", None, False)
OPS = frozenset("cud")  # the streamed row changes (a snapshot read, a truncate, a message stay dicts)
Change = Any  # a change event: a dict, or the compact tuple this module makes of it
KEY_FIELDS = frozenset({"table", "before", "after"})  # what a key may read to be taken in the debezium step


def as_dict(change: Any) -> Any:
    """The change as the merge buffers a dict (a dict, or anything else, as it is)."""
    if type(change) is not tuple:
        return change
    return {"op": change[OP], "before": change[BEFORE], "after": change[AFTER], "ts_ms": change[TS_MS],
            "table": change[TABLE], "tx_id": change[TX_ID], "lsn": change[LSN], "source_ts_ms": change[SOURCE_TS_MS]}


def as_dicts(changes: List[Any]) -> List[Any]:
    return [as_dict(change) for change in changes]

