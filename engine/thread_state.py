"""One Python thread state per Bytewax worker thread, kept for the whole run.

With more than one worker or process, Bytewax runs each worker on a thread that Python did not
start, and enters Python through PyO3's ``with_gil``: ``PyGILState_Ensure`` before each call
(a step's batch, a source's poll, a sink's write) and ``PyGILState_Release`` after it. Without a
thread state of its own, each call creates one and deletes it after: the thread's native id
(``gettid``), a 16 KiB frame stack mapped and unmapped (``mmap``, ``munmap``, page faults), and
``threading.local`` values lost between calls. A ``deploy -p 2`` of bench/scale_out.py's flow
made ~32,000 of each per 200,000 events (``strace -c``); keeping the state, its worker threads
took 0.81x [0.70..1.04] of the CPU (6 interleaved pairs, docs/performance-log.md).

``keep_thread_state()``, called where a worker thread first enters Python for the flow (the
build of each source partition, engine/compiler/connectors.py; a keyed or joining step's batch,
which may come to a worker that reads no partition), calls ``PyGILState_Ensure`` once more on
that thread: the count PyO3's ``Release`` brings down then stays above zero, so Python keeps the
thread state (PyO3 still releases the interpreter lock after each call). The thread state of a
finished worker thread stays with the interpreter (a few KiB per worker thread per run):
deleting it from another thread after the run is only safe once that worker has surely ended,
which Bytewax does not say on every path (an interrupt returns before joining its workers). On Python's main thread
(one worker, one process) nothing is needed and nothing is done.
"""

from __future__ import annotations

import ctypes
import threading

_ensure = ctypes.pythonapi.PyGILState_Ensure  # a PyDLL: called with the interpreter lock held, as it must be
_ensure.restype = ctypes.c_int
_ensure.argtypes = ()
_kept = threading.local()  # per thread state: empty again at each call until the state is kept
_MAIN = threading.main_thread().ident


def keep_thread_state() -> None:
    """Keep this thread's Python thread state until the thread ends (module docstring)."""
    if getattr(_kept, "done", False):
        return
    if threading.get_ident() != _MAIN:
        _ensure()
    _kept.done = True
