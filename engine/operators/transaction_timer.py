"""When ``merge_transactions``' idle timer is due: the oldest ``last_seen`` of the open
transactions that wait (with changes, or only a malformed END), without walking all of them
at every call (a backlog holds thousands whose END came before their data, and the timer is
asked for after every batch). A queue of ``(last_seen, id)``, appended whenever a transaction's
``last_seen`` is set; an entry whose transaction is gone, no longer waits or was seen again
since is dropped when it reaches the front. ``last_seen`` is the ``now`` of the call, which
only goes forward, so the queue stays in time order with an append (a heap push per change
cost ~5k instructions with its tuple comparisons); if the clock goes back, the queue is
rebuilt, sorted, from the state at the next call. Not part of the state: rebuilt from it on
the first call after a restore or ``forget``."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from itertools import repeat
from typing import Deque, Dict, Optional, Sequence, Tuple

from engine.durations import duration_option
from engine.operators.transaction_state import Transaction


def idle_of(config: dict) -> Optional[timedelta]:
    """The step's ``idle`` option: how long a transaction waits for its last changes."""
    if "idle" not in config:
        return None
    return duration_option(config["idle"], ("idle",))


def waits(transaction: Transaction) -> bool:
    """Released by idleness or the end of input: it has changes, or only a malformed END."""
    return bool(transaction.changes) or transaction.unreadable_end


class IdleTimer:
    def __init__(self) -> None:
        # oldest first; None: rebuilt at the next call
        self._queue: Optional[Deque[Tuple[datetime, str]]] = None
        self._latest: Optional[datetime] = None  # the time of the queue's last entry

    def forget(self) -> None:
        """Every ``last_seen`` may have changed (``resume``)."""
        self._queue = None

    def seen(self, transaction: Transaction) -> None:
        """``transaction.last_seen`` has just been set."""
        queue, time, tx_id = self._queue, transaction.last_seen, transaction.id
        if queue is not None and time is self._latest and time is not None and tx_id is not None:
            queue.append((time, tx_id))  # (the usual: the batch's ``now``)
        elif tx_id is not None:
            self.seen_all(time, (tx_id,))

    def seen_all(self, time: Optional[datetime], tx_ids: Sequence[str]) -> None:
        """The transactions ``tx_ids`` were seen at ``time`` (their ``last_seen``)."""
        queue, latest = self._queue, self._latest
        if queue is None or time is None or not tx_ids:
            return
        try:  # (one batch's changes share one ``now``: the identity test usually decides)
            in_order = time is latest or latest is None or time >= latest
        except TypeError:  # naive and aware times: no order (oldest() raises it when it rebuilds)
            in_order = False
        if in_order:
            queue.extend(zip(repeat(time), tx_ids))
            self._latest = time
        else:  # the clock went back: the queue would be out of order
            self._queue = None

    def oldest(self, open_transactions: Dict[str, Transaction]) -> Optional[datetime]:
        """The oldest ``last_seen`` of the waiting transactions, None if none waits."""
        queue = self._queue
        if queue is None or len(queue) > 2 * len(open_transactions) + 64:  # (the stale entries: bounded)
            queue = self._queue = deque(sorted((t.last_seen, tx_id) for tx_id, t in open_transactions.items()
                                               if t.last_seen is not None and waits(t)))
            self._latest = queue[-1][0] if queue else None
        while queue:
            last_seen, tx_id = queue[0]
            transaction = open_transactions.get(tx_id)
            if transaction is not None and transaction.last_seen == last_seen and waits(transaction):
                return last_seen
            queue.popleft()
        return None
