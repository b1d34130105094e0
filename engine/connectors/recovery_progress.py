"""Read, from Bytewax's recovery store, which epochs are durable and a partition's last durable
snapshot: what a resumed run would start from.

Bytewax 0.21 (src/recovery.rs) keeps, in every ``*.sqlite3`` partition of the store:
``exs(ex_num, worker_count, resume_epoch)`` per execution, ``fronts(ex_num, worker_index,
worker_frontier)`` (a worker's frontier F: every epoch before F is complete on it, its snapshots
written) and ``snaps(step_id, state_key, snap_epoch, ser_change)`` (pickled state). A resume
starts at the smallest frontier of the last execution's workers (a worker without a row counts
at that execution's resume epoch) and loads each partition's latest snapshot before it. The
same computation here tells an exactly-once sink which of its snapshots can no longer be lost.

Read-only connections: the store's writer is the running flow.
"""

from __future__ import annotations

import glob
import os
import pickle
import sqlite3
from typing import Any, Dict, Iterator, Optional, Tuple


def _parts(directory: str) -> Iterator[sqlite3.Connection]:
    for path in sorted(glob.glob(os.path.join(directory, "*.sqlite3"))):
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            yield connection
        finally:
            connection.close()


def durable_before(directory: str) -> Optional[int]:
    """The epoch a resume would start at now: every epoch before it is durable. None before the
    first execution has written anything."""
    executions: Dict[int, Tuple[int, int]] = {}
    fronts: Dict[Tuple[int, int], int] = {}
    for part in _parts(directory):
        for ex_num, worker_count, resume_epoch in part.execute("SELECT ex_num, worker_count, resume_epoch FROM exs"):
            executions[ex_num] = (worker_count, resume_epoch)
        for ex_num, worker, frontier in part.execute("SELECT ex_num, worker_index, worker_frontier FROM fronts"):
            fronts[(ex_num, worker)] = max(frontier, fronts.get((ex_num, worker), frontier))
    if not executions:
        return None
    last = max(executions)
    worker_count, resume_epoch = executions[last]
    return min(max(resume_epoch, fronts.get((last, worker), resume_epoch)) for worker in range(worker_count))


def durable_snapshot(directory: str, step_id: str, state_key: str) -> Optional[Tuple[int, Any]]:
    """``(snap_epoch, state)`` of the latest snapshot of ``step_id``/``state_key`` that a resume
    would load now, or None (none yet, or discarded)."""
    before = durable_before(directory)
    if before is None:
        return None
    best: Optional[Tuple[int, Optional[bytes]]] = None
    for part in _parts(directory):
        row = part.execute("SELECT snap_epoch, ser_change FROM snaps WHERE step_id = ? AND state_key = ? "
                           "AND snap_epoch < ? ORDER BY snap_epoch DESC LIMIT 1",
                           (step_id, state_key, before)).fetchone()
        if row is not None and (best is None or row[0] > best[0]):
            best = row
    if best is None or best[1] is None:
        return None
    return best[0], pickle.loads(best[1])  # noqa: S301 - our own store, written by this flow
