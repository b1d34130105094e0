"""One run per recovery store (per process of a cluster): a second ``run`` or ``deploy`` of
the same store would read and write the same snapshots and write every event twice."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator, Optional


class StoreInUse(Exception):
    pass


@contextmanager
def store_locked(directory: Optional[str], process_id: int = 0) -> Iterator[None]:
    """Hold ``<directory>/.lock-<process_id>`` while the run lasts (released by the OS if the
    process dies, so a killed run never leaves a stale lock)."""
    if not directory:
        yield
        return
    path = os.path.join(directory, f".lock-{process_id}")
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise StoreInUse(f"the recovery store {directory} is in use by {holder}: one run per store "
                             "(stop it, or give this run its own -r DIRECTORY)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()
