"""The recovery store's creation: once, whole, and never in the way of the next start.

Bytewax's store is a directory of SQLite files, one per recovery partition
(``part-<i>.sqlite3``), each recording its index and the partitions' count. ``init_db_dir``
writes them one after the other; a process killed in those few milliseconds of its very first
start leaves some missing or empty, and every later start stopped at Bytewax's "missing
recovery partitions" (a crash loop under a supervisor). Such a store holds no progress (no
execution, commit or snapshot in any file): it is made again. The files of a store with
progress are never changed, whatever their state: Bytewax reports what is wrong with them and a
person decides.

``READY`` marks a store known whole, so a start checks one file's existence, not the SQLite
files (a store from before the mark is read once, then marked).
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from typing import List, Set, Tuple

from bytewax.recovery import init_db_dir

from engine.notices import notice

READY = ".velocity-flow-store"  # written once the store's files are all there
_PROGRESS = ("exs", "commits", "fronts", "snaps")  # rows an execution writes: never made again
SQLITE_REASON = re.compile(r'Some\("([^"]+)"\)')  # in a panic's text: SqliteFailure(..., Some("disk I/O error"))


class StoreUnusable(Exception):
    """The store cannot be created: a read-only or full disk, a path that cannot be a directory."""


def prepare_recovery_directory(path: str, partitions: int = 1) -> None:
    """Create the recovery store on first use, as ``python -m bytewax.recovery DIR N`` would.

    The processes of a cluster (``run -i N``) share the directory and start together: two
    creating the store at once made SQLite panic ("database is locked"), so the check and the
    creation hold an exclusive lock on the directory itself.

    A disk that refuses the store is ``StoreUnusable`` (one line, exit 3), not an "internal error"
    or Bytewax's panic with its traceback; what a full disk left half made is made again at the
    next start (no progress in it)."""
    try:
        _prepare(path, partitions)
    except OSError as exc:
        raise StoreUnusable(f"cannot create the recovery store {path}: {exc.strerror or exc}") from None
    except BaseException as exc:  # pyo3's PanicException (init_db_dir's unwrap of an SQLite error)
        if type(exc).__name__ != "PanicException":
            raise
        reason = SQLITE_REASON.search(str(exc))
        text = reason.group(1) if reason else (str(exc).splitlines() or ["Bytewax failed"])[0]
        raise StoreUnusable(f"cannot create the recovery store {path}: {text} (a full or read-only disk?)") from None


def _prepare(path: str, partitions: int) -> None:
    os.makedirs(path, exist_ok=True)
    if os.path.exists(os.path.join(path, READY)):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(path, READY)):  # another process of the cluster made it meanwhile
            return
        files = _store_files(path)
        if files:
            whole, progress = _inspect(path, files)
            if whole:  # a store from before the mark
                _mark(path)
            if whole or progress:  # one with progress is left as it is, whatever its state
                return
            for name in os.listdir(path):  # an interrupted creation: its files and their journals
                if name.startswith(tuple(files)):
                    os.remove(os.path.join(path, name))
            notice(f"recovery store {path}: an interrupted first start left it incomplete and with "
                   "nothing to resume from; created again")
        init_db_dir(Path(path), partitions)
        _mark(path)
    finally:
        os.close(fd)  # releases the lock


def _store_files(path: str) -> List[str]:
    return sorted(name for name in os.listdir(path) if name.endswith(".sqlite3"))


def _inspect(path: str, files: List[str]) -> Tuple[bool, bool]:
    """(whole, progress): whole when the files hold every partition of the count they record,
    once each; progress when one holds an execution's rows, or cannot be read (then it may).

    Python's SQLite, in the flow's own process, which engine/connectors/recovery_progress.py
    forbids while the flow runs: two copies of SQLite in one process drop each other's locks.
    Here nothing of Bytewax's copy is open yet (the store is prepared before the run starts, and
    ``init_db_dir`` after this returns), and every connection is closed before it returns."""
    import sqlite3  # only for a store without the mark

    indices: List[int] = []
    counts: Set[int] = set()
    progress = False
    for name in files:
        file = os.path.abspath(os.path.join(path, name))  # as_uri() refuses a relative path (-r rec)
        if os.path.getsize(file) == 0 and not os.path.exists(file + "-wal"):
            continue  # created, nothing written
        try:
            db = sqlite3.connect(f"{Path(file).as_uri()}?mode=ro", uri=True, timeout=5)  # reads only
            try:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                progress = progress or any(db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()  # noqa: S608
                                           for table in _PROGRESS if table in tables)  # (our names)
                rows = db.execute("SELECT part_index, part_count FROM parts").fetchall() if "parts" in tables else []
            finally:
                db.close()
        except sqlite3.Error:
            return False, True  # not readable as a store: not ours to remove
        indices += [index for index, _ in rows]
        counts.update(count for _, count in rows)
    whole = len(counts) == 1 and len(files) == len(indices) and sorted(indices) == list(range(counts.pop()))
    return whole, progress


def _mark(path: str) -> None:
    with open(os.path.join(path, READY), "w", encoding="utf-8") as mark:
        mark.write("a Bytewax recovery store, created whole by velocity-flow\n")
