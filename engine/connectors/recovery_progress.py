"""Read, from Bytewax's recovery store, which epochs are durable and a partition's last durable
snapshot: what a resumed run would start from.

Bytewax 0.21 (src/recovery.rs) keeps, in every ``*.sqlite3`` partition of the store:
``exs(ex_num, worker_count, resume_epoch)`` per execution, ``fronts(ex_num, worker_index,
worker_frontier)`` (a worker's frontier F: every epoch before F is complete on it, its snapshots
written) and ``snaps(step_id, state_key, snap_epoch, ser_change)`` (pickled state). A resume
starts at the smallest frontier of the last execution's workers (a worker without a row counts
at that execution's resume epoch) and loads each partition's latest snapshot before it. The
same computation here tells an exactly-once sink which of its snapshots can no longer be lost.

Read-only connections: the store's writer is the running flow. **Never from the flow's own
process**: Bytewax links its own copy of SQLite, and two copies in one process break each
other's POSIX locks (closing one copy's descriptor drops the other's locks, and a copy that
thinks it is the last user truncates the shared-memory file the other has mapped: SIGBUS, seen
here). A running flow asks a small reader process instead (:class:`StoreReader`).
"""

from __future__ import annotations

import glob
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple


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


def durable_fields(directory: str, step_id: str, state_key: str, fields: List[str]) -> List[Any]:
    """The values of ``fields`` in the latest durable snapshot (a dict state; None where absent)."""
    found = durable_snapshot(directory, step_id, state_key)
    state = found[1] if found is not None and isinstance(found[1], dict) else {}
    return [state.get(field) for field in fields]


class StoreReader:
    """Asks a reader process (this module run as a program) about the store: one JSON request
    and one JSON answer per line. The reader ends when this process does (its stdin closes)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._process: Optional[subprocess.Popen] = None

    def durable_fields(self, step_id: str, state_key: str, fields: List[str]) -> List[Any]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = subprocess.Popen([sys.executable, "-m", __name__, self.directory],
                                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps([step_id, state_key, fields]) + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        if not answer:
            raise OSError(f"the recovery store reader for {self.directory} stopped")
        return json.loads(answer)

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.stdin is not None:
                self._process.stdin.close()
                self._process.wait(10)
            self._process = None


def _serve(directory: str) -> None:
    """Answer until stdin ends. The asking flow stops the reader by ending (stdin closes), so a
    Ctrl-C reaching the terminal's whole process group is its flow's to handle, not the reader's;
    and a flow killed mid-request leaves an answer with no reader (EPIPE): an end, said nowhere
    (the flow's stderr is the user's, and it must not show a reader's traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for line in sys.stdin:
            step_id, state_key, fields = json.loads(line)
            print(json.dumps(durable_fields(directory, step_id, state_key, fields)), flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit


if __name__ == "__main__":
    _serve(sys.argv[1])
