"""A helper process, forked by ``velocity-flow validate``, that runs the DuckDB views checks
(duckdb_view_checks.py) while the main process imports its modules, loads and binds the topology.

Starting DuckDB is most of what a first validate adds (importing its 66 MB extension, an
instance with its built-in extensions: ~240M instructions of ~600M) and holds the GIL all along,
so a thread cannot overlap it; a process on a second core can. main forks the helper as soon as
it knows the command; the helper starts DuckDB and waits; each check is then one request (SQL
text, JSON) and one answer over a pipe. It runs the same checks in the same order on one
database, as the main process would, so every verdict and message is the same.

Started only where it pays: a second core this process may run on, idle now (with none, the main
process would only wait for the helper), no other thread (a child forked from a threaded process
can wait forever for a lock another thread held), and a topology file whose text mentions
``views``; not for a text whose last validate asked no DuckDB check (its views remembered by the
views cache, table_views_cache.py: a helper started for nothing is noted, and none is started for
that text again until a validate of it asks a check with no helper to ask).

A check whose run in the helper raised (say DuckDB cannot be imported) is made in process, as it
would have been without the helper, with its own outcome. A helper that dies, or does not answer
within ``TIMEOUT`` seconds, is a clear error (``ViewsHelperError``: main reports an internal
error, exit 4), never a hang: it died or hung checking views, which the main process would have
checked the same way. No helper outlives its validate: it is killed and reaped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, NoReturn, Optional, Sequence

from engine.connectors.table_views_cache import note, quiet_note

TIMEOUT = 30.0  # seconds for one answer, the helper's start included: DuckDB's takes ~0.1 s
_FAILED = ["failed"]  # the helper's answer when its check raised: made in process instead
_run: Optional["_Run"] = None  # the helper of this process (or none), while a validate runs
_MOST = 4 * 1024 * 1024 + 1  # bytes of a file read, as the loader reads (engine/topology/loader.py)


class ViewsHelperError(Exception):
    """The helper process died or hung while checking views."""


class _Run:
    """One validate's helper (None: the checks are made in process) and its notes."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self.notes = [quiet_note(text) for text in _texts_with_views(paths)] if _can_fork() else []
        self.quiet = bool(self.notes) and all(path is not None and os.path.isfile(path) for path in self.notes)
        self.helper = _Helper.start() if self.notes and not self.quiet else None
        self.asked = 0  # the checks asked for (made by the helper or in process)
        self.finished = False

    def finish(self) -> None:
        """End the helper (killed and reaped) and write the notes; once: later calls do nothing."""
        if self.finished:
            return
        self.finished = True
        if self.helper is not None:
            self.helper.end()
        if (self.helper is not None and not self.asked) or (self.quiet and self.asked):  # for nothing, or none
            for path in self.notes:
                if path is not None:
                    note(path, not self.asked)


def start(paths: Sequence[str]) -> _Run:
    """Start the helper for validating ``paths`` now (main, as soon as it knows the command:
    most of validate's own work is importing its modules, which the helper's start then
    overlaps); ``helping`` of the same paths takes it over. The caller finishes one that was
    never taken over (a helper whose pipe closes, as this process exits, ends too)."""
    return _Run(paths)


@contextmanager
def helping(paths: Sequence[str], early: Optional[_Run] = None) -> Iterator[None]:
    """A helper for the views checks of validating ``paths`` while in the block (``early``, the
    one ``start`` started, when it was for the same paths; else one started now), when it can pay
    (see the module's docstring); ended (killed and reaped) when the block ends."""
    global _run
    if early is not None and early.paths != tuple(paths):
        early.finish()
        early = None
    run = _Run(paths) if early is None else early
    _run = run
    try:
        yield
    finally:
        _run = None
        run.finish()


def started() -> bool:
    return _run is not None and _run.helper is not None


def ahead(kind: str, payload: Any) -> None:
    """Hand the helper a check to work out now, before it is asked (``ask`` of the same then
    finds its answer ready): a guess at what validating will ask, never an answer by itself."""
    run = _run
    if run is not None and run.helper is not None:
        run.helper.send([True, kind, payload])


def ask(kind: str, payload: Any) -> Optional[List[Any]]:
    """``[answer]`` of duckdb_view_checks's ``ANSWERS[kind](payload)`` run by the helper, or None when
    there is no helper or its check raised (the caller then checks in process)."""
    run = _run
    if run is None:
        return None
    run.asked += 1
    if run.helper is None:
        return None
    reply = run.helper.ask(kind, payload)
    return None if reply == _FAILED else reply


def _can_fork() -> bool:
    """A second core to run on, idle now, and no other thread (forking a threaded process can
    leave the child waiting for a lock that thread held: a plug-in's, a C library's)."""
    if not hasattr(os, "fork") or not hasattr(os, "sched_getaffinity"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1 and _running() < len(os.sched_getaffinity(0))
    except (OSError, ValueError, IndexError):
        return False


def _running() -> int:
    """The processes running or ready to run now, this one included (Linux's /proc/loadavg):
    with no core left for the helper, it only adds its start's cost (measured with the two cores
    busy, load ~4: a first validate 236 -> 273 ms median, cpu 167 -> 195 ms, 24 rounds)."""
    with open("/proc/loadavg", "rb") as handle:
        return int(handle.read().split()[3].split(b"/")[0])


def _texts_with_views(paths: Sequence[str]) -> List[bytes]:
    """The texts of the files whose validation may check views with DuckDB: a cheap test, any
    text with ``views`` in it (one that has none never asks the helper; one that has and does not
    ask only costs the helper's start, on the other core, and is noted for next time)."""
    texts = []
    for path in paths:
        try:
            if os.path.isfile(path):  # a FIFO or a device is not read here (nor by the loader)
                with open(path, "rb") as handle:
                    text = handle.read(_MOST)
                if b"views" in text:
                    texts.append(text)
        except OSError:
            pass
    return texts


class _Helper:
    def __init__(self, pid: int, requests: int, answers: int) -> None:
        self.pid, self.requests, self.answers = pid, requests, answers
        self.ended: Optional[int] = None  # the wait status, once reaped

    @classmethod
    def start(cls) -> Optional["_Helper"]:
        to_child, requests = os.pipe()
        answers, from_child = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare: checked in process
            for fd in (to_child, requests, answers, from_child):
                os.close(fd)
            return None
        if pid == 0:  # the helper: never returns into the caller's stack
            code = 1
            try:
                os.close(requests)
                os.close(answers)
                _serve(to_child, from_child)
                code = 0
            finally:
                os._exit(code)
        os.close(to_child)
        os.close(from_child)
        os.set_blocking(requests, False)  # a full pipe is waited for with a time limit (_send)
        return cls(pid, requests, answers)

    def send(self, request: List[Any]) -> None:
        """Send a request: never blocks beyond ``TIMEOUT`` (a full pipe waits for the helper to
        read); a helper already ended is left for ``ask`` to report."""
        if self.requests < 0:  # ended
            return
        try:
            _send(self.requests, request, TIMEOUT)
        except TimeoutError:
            self._hung()
        except OSError:  # its end of the pipe closed: it is ending
            pass

    def ask(self, kind: str, payload: Any) -> List[Any]:
        self.send([False, kind, payload])
        try:
            reply = _receive(self.answers, TIMEOUT)
        except TimeoutError:
            self._hung()
        except OSError:  # its end of the pipe closed: it is ending
            reply = None
        if reply is None:  # the pipe closes as the helper ends: waiting for its end is short
            status = self._reap()
            if status > 0 and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
                raise KeyboardInterrupt  # Ctrl-C reached the helper first: this process is interrupted too
            raise ViewsHelperError(f"the DuckDB views check stopped: its helper process {_fate(status)}")
        return reply

    def _hung(self) -> NoReturn:
        self.end()
        raise ViewsHelperError(f"the DuckDB views check stopped: its helper process gave no answer in "
                               f"{TIMEOUT:g} s (stopped)") from None

    def _reap(self) -> int:
        if self.ended is None:
            try:
                self.ended = os.waitpid(self.pid, 0)[1]
            except ChildProcessError:  # reaped by someone else (a SIGCHLD handler): its status is gone
                self.ended = -1
        return self.ended

    def end(self) -> None:
        for fd in (self.requests, self.answers):
            try:
                os.close(fd)
            except OSError:
                pass
        self.requests = self.answers = -1
        if self.ended is None:
            try:
                os.kill(self.pid, signal.SIGKILL)  # its DuckDB holds nothing worth a clean end
            except ProcessLookupError:
                pass
            self._reap()


def _fate(status: int) -> str:
    if status < 0:
        return "ended"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"was ended by signal {number} ({signal.Signals(number).name})"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _serve(requests: int, answers: int) -> None:
    """The helper: starts DuckDB, then answers requests until the main process closes its end."""
    global _run
    _run = None
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or a stop: end quietly (main reports it)
        signal.signal(sig, signal.SIG_DFL)
    try:
        from engine.connectors import duckdb_view_checks

        duckdb_view_checks.warm_up()
        handlers = duckdb_view_checks.ANSWERS
    except Exception:  # noqa: BLE001 - each request then fails, and is made in process
        handlers = {}
    ready: Dict[str, List[Any]] = {}  # the answers worked out ahead, by request (the checks are pure)
    while True:
        request = _receive(requests, None)
        if request is None:  # the main process is done (or gone)
            return
        early, kind, payload = request
        key = json.dumps([kind, payload])
        reply = ready.get(key)
        if reply is None:
            try:
                reply = [handlers[kind](payload)]
            except Exception:  # noqa: BLE001 - made again in process, which raises it as before
                reply = _FAILED
        if early:
            ready[key] = reply
        else:
            _send(answers, reply)


def _send(fd: int, message: Any, timeout: Optional[float] = None) -> None:
    """Write ``message``; on a non-blocking ``fd``, TimeoutError when the pipe stays full for
    ``timeout`` seconds (never then half a message: the reader is dead or stuck)."""
    from select import select  # a C extension: imported by a validate that has a helper only

    data = json.dumps(message).encode()
    data = len(data).to_bytes(8, "big") + data
    deadline = None if timeout is None else time.monotonic() + timeout
    while data:
        if deadline is not None and not select([], [fd], [], max(0.0, deadline - time.monotonic()))[1]:
            raise TimeoutError
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:  # no room after all: wait again
            continue


def _receive(fd: int, timeout: Optional[float]) -> Optional[Any]:
    """The next message, or None at the end of the pipe; TimeoutError after ``timeout`` seconds."""
    from select import select

    deadline = None if timeout is None else time.monotonic() + timeout
    data = b""
    wanted = 8
    while len(data) < wanted:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, wanted - len(data))
        if not chunk:
            return None
        data += chunk
        if len(data) == 8 and wanted == 8:
            wanted += int.from_bytes(data, "big")
    return json.loads(data[8:])
