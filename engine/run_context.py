"""What the connectors of a running flow may need to know about the run itself.

- Its recovery store: an exactly-once sink reads from it which of its snapshots are durable
  (engine/connectors/recovery_progress.py), because Bytewax tells a sink nothing of the kind.
- Work to finish once the dataflow has ended: Bytewax closes a sink before it has written the
  last epoch's progress, so what may only happen after that (committing the last epoch's Kafka
  transaction) is registered here and done by the runner when the run returns normally (end of
  input or a clean stop). After a failure nothing here runs: the next start does that work.

One run at a time per process (``begin`` resets both), as the runner already assumes.
"""

from __future__ import annotations

import threading
from typing import Callable, List, Optional

_lock = threading.Lock()
_store: Optional[str] = None
_after: List[Callable[[], None]] = []


def begin(recovery_directory: Optional[str]) -> None:
    """Before a run: its recovery store (None without one); nothing left to finish."""
    global _store
    with _lock:
        _store = recovery_directory
        _after.clear()


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
