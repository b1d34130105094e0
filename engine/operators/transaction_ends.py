"""How ``merge_transactions`` takes an END record whose counts it has read, and the usual one,
read where ``transaction_intake.intake`` meets it.

The usual END (a text id, ``data_collections`` a list of objects with a table name and a count,
naming one of the step's tables, ``event_count`` a count or absent) is read in one pass here: the
table each collection name stands for is remembered (a backlog's ENDs name a handful of tables),
and the counts are filtered to the step's tables as they are summed. Any other record (BEGIN,
a malformed or unusual END) takes the general path (``MergeTransactions._marker``), which says
what is wrong; both end in ``Ends.counted``, so the state is the same either way
(tests/operators/test_merge_intake_ends.py). On bench/domain_instructions.py's 300-transaction
backlog (END records a seventh of its messages) ~13,600 instructions less per END: the merge's
33,900 a message down to 31,900 (its ``--steps``, 2026-12-05).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional, Set

from engine.operators.transaction_records import MESSAGES
from engine.operators.transaction_state import MergeState, Transaction, forget_unended, remember
from engine.operators.transaction_timer import IdleTimer

_UNSEEN = object()
_NAMES_KEPT = 1024  # collection names whose table is remembered (a bound: names come from the input)


class Ends:
    """END records of one merge step (``tables``: the tables it reads, None for all)."""

    def __init__(self, tables: Optional[Set[str]], timer: IdleTimer) -> None:
        self.tables = tables
        self.timer = timer
        self._tables: Dict[str, Optional[str]] = {}  # collection name -> its table if it is counted, else None

    def take(self, s: MergeState, event: dict, now: datetime) -> bool:
        """Take ``event`` if it is the usual END record (see the module's doc); False, nothing
        changed, for any other (a dict without ``op``): the general path's."""
        collections = event.get("data_collections")
        value = event.get("id")
        if event.get("status") != "END" or type(value) is not str or type(collections) is not list:
            return False
        tx_id = value.split(":", 1)[0]  # (marker_id's)
        total = event.get("event_count")
        if not tx_id or total is not None and (type(total) is not int or total < 0):
            return False
        counts: Dict[str, int] = {}
        names = self._tables
        for entry in collections:  # (transaction_records.announced's checks, and the filter to the tables)
            if type(entry) is not dict:
                return False
            name = entry.get("data_collection")
            count: Any = entry.get("event_count")
            if type(name) is not str or type(count) is not int or count < 0:
                return False
            table: Any = names.get(name, _UNSEEN)
            if table is _UNSEEN:
                if not name:
                    return False
                table = self._table(name)
            if table is not None:
                counts[table] = counts.get(table, 0) + count
        if not counts:  # none of the step's tables, or only messages: the general path
            return False
        self.counted(s, tx_id, counts, now)
        return True

    def _table(self, name: str) -> Optional[str]:
        """The table counted for a collection ``name`` (as ``announced`` and the filter to the
        step's tables read it), None if none is (logical decoding messages, another table)."""
        table: Optional[str] = None if name.startswith(MESSAGES) else name.rsplit(".", 1)[-1]
        if self.tables is not None and table not in self.tables:
            table = None
        if len(self._tables) < _NAMES_KEPT:
            self._tables[name] = table
        return table

    def ours(self, counts: Dict[str, int]) -> Dict[str, int]:
        """What an END announces for the step's tables."""
        if self.tables is None:
            return counts
        ours = {}
        for table, n in counts.items():  # (a loop: a comprehension is a call)
            if table in self.tables:
                ours[table] = n
        return ours

    def counted(self, s: MergeState, tx_id: str, counts: Dict[str, int], now: datetime) -> None:
        """Take the END of ``tx_id``, read: ``counts``, what it announces for the step's tables."""
        if tx_id in s.done:
            return
        transaction = s.open.get(tx_id)  # (not setdefault: a Transaction built for nothing per END)
        if self.tables is not None and not counts and not getattr(transaction, "changes", None):
            s.open.pop(tx_id, None)  # none of our tables
            remember(s, "done", tx_id)
            return
        if transaction is None:  # (changes END did not count: go now)
            transaction = s.open[tx_id] = Transaction(tx_id)
        ended(s, transaction)
        transaction.expected = counts
        transaction.last_seen = now
        self.timer.seen(transaction)
        if tx_id in s.unended:  # (forget_unended's own test, without its call)
            forget_unended(s, transaction)


def ended(s: MergeState, transaction: Transaction) -> None:
    """Its END came: it goes in END order. Once only: a second END (with counts or not) keeps
    the first one's place, so ``ended`` never holds an id twice (``forget_ended``)."""
    if transaction.expected is None and not transaction.unreadable_end:
        s.ended.append(transaction.id)  # type: ignore[arg-type]
