"""When ``merge_transactions``' idle timer is due: the oldest ``last_seen`` of the open
transactions that wait (with changes, or only a malformed END), without walking all of them
at every call (a backlog holds thousands whose END came before their data, and the timer is
asked for after every batch). A heap of ``(last_seen, id)``, pushed whenever a transaction's
``last_seen`` is set; an entry whose transaction is gone, no longer waits or was seen again
since is dropped when it reaches the top. Not part of the state: rebuilt from it on the first
call after a restore or ``forget``."""

from __future__ import annotations

from datetime import datetime
from heapq import heapify, heappop, heappush
from typing import Dict, List, Optional, Tuple

from engine.operators.transaction_state import Transaction


def waits(transaction: Transaction) -> bool:
    """Released by idleness or the end of input: it has changes, or only a malformed END."""
    return bool(transaction.changes) or transaction.unreadable_end


class IdleTimer:
    def __init__(self) -> None:
        self._heap: Optional[List[Tuple[datetime, str]]] = None  # None: rebuilt at the next call

    def forget(self) -> None:
        """Every ``last_seen`` may have changed (``resume``)."""
        self._heap = None

    def seen(self, transaction: Transaction) -> None:
        """``transaction.last_seen`` has just been set."""
        if self._heap is not None and transaction.last_seen is not None and transaction.id is not None:
            heappush(self._heap, (transaction.last_seen, transaction.id))

    def oldest(self, open_transactions: Dict[str, Transaction]) -> Optional[datetime]:
        """The oldest ``last_seen`` of the waiting transactions, None if none waits."""
        heap = self._heap
        if heap is None or len(heap) > 2 * len(open_transactions) + 64:  # (the stale entries: bounded)
            heap = self._heap = [(t.last_seen, tx_id) for tx_id, t in open_transactions.items()
                                 if t.last_seen is not None and waits(t)]
            heapify(heap)
        while heap:
            last_seen, tx_id = heap[0]
            transaction = open_transactions.get(tx_id)
            if transaction is not None and transaction.last_seen == last_seen and waits(transaction):
                return last_seen
            heappop(heap)
        return None
