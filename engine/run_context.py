"""What the connectors of a running flow may need to know about the run itself.

- Its recovery store: an exactly-once sink reads from it which of its snapshots are durable
  (engine/connectors/recovery_progress.py), because Bytewax tells a sink nothing of the kind.
- Work to finish once the dataflow has ended: Bytewax closes a sink before it has written the
  last epoch's progress, so what may only happen after that (committing the last epoch's Kafka
  transaction) is registered here and done by the runner when the run returns normally (end of
  input or a clean stop). After a failure nothing here runs: the next start does that work.
- What the connectors learn once per run (``remembered``): the Kafka sources of one cluster
  list their partitions from one metadata request instead of one client each.
- Its epoch (``epoch_seconds``): a Kafka source partition naps instead of spinning at the end of
  each (engine/connectors/kafka_tuning.py, ``EPOCH_END_WAIT``).
- Its share (``share``), when it is one of N independent processes (engine/shares.py): the
  Kafka sources read only that share's partitions, an exactly-once sink's transactions are its own.

One run at a time per process (``begin`` resets them all, ``end`` forgets what was
remembered), as the runner already assumes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Hashable, List, Optional

if TYPE_CHECKING:
    from engine.shares import Share

_lock = threading.Lock()
_store: Optional[str] = None
_after: List[Callable[[], None]] = []
_memo: Optional[Dict[Hashable, Any]] = None  # a dict while a run is on
_memo_lock = threading.Lock()  # (apart: a make() may take seconds, and after_run must not wait)
_epoch: Optional[float] = None  # seconds
_share: Optional["Share"] = None


def begin(recovery_directory: Optional[str], epoch_seconds: Optional[float] = None,
          share: Optional["Share"] = None) -> None:
    """Before a run: its recovery store (None without one), the length of its epochs and its
    share (None: it reads every partition); nothing left to finish."""
    global _store, _memo, _epoch, _share
    with _lock:
        _store = recovery_directory
        _epoch = epoch_seconds
        _share = share
        _after.clear()
    with _memo_lock:
        _memo = {}


def end() -> None:
    """After a run, however it ended: what it remembered is forgotten."""
    global _memo, _epoch, _share
    with _memo_lock:
        _memo = None
    _epoch = _share = None


def share() -> Optional["Share"]:
    """The running process's share of the sources' partitions (None: all of them)."""
    return _share


def epoch_seconds() -> Optional[float]:
    """The running flow's epoch length (None outside a run)."""
    return _epoch


def remembered(key: Hashable, make: Callable[[], Any]) -> Any:
    """``make()``'s value, made once per run for ``key`` (its workers included); outside a run
    (a connector used on its own) made at every call. A ``make()`` that raises is not
    remembered: the next call tries again."""
    with _memo_lock:
        memo = _memo
        if memo is None:
            return make()
        if key not in memo:
            memo[key] = make()
        return memo[key]


def recovery_directory() -> Optional[str]:
    return _store


def after_run(task: Callable[[], None]) -> None:
    """``task()`` runs once the dataflow has ended normally; it may raise to fail the run."""
    with _lock:
        _after.append(task)


def finish() -> None:
    """Run the registered tasks in order (each once). The first failure is raised after the
    others have had their turn: one sink's trouble does not keep another's output back."""
    with _lock:
        tasks, _after[:] = list(_after), []
    failure: Optional[BaseException] = None
    for task in tasks:
        try:
            task()
        except Exception as exc:  # noqa: BLE001 - see above
            failure = failure or exc
    if failure is not None:
        raise failure
