"""Execute a compiled dataflow with Bytewax, the way ``python -m bytewax.run`` would.

Failures come back as ``RunFailed`` with one readable line (the step and the root cause),
not Bytewax's chained Rust/Python traceback.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import List, Optional

from bytewax.recovery import RecoveryConfig
from bytewax.run import cli_main

from engine import run_context
from engine.errors import ConfigError
from engine.runtime.heap import keep_heap
from engine.runtime.recovery_store import SQLITE_REASON, StoreUnusable, prepare_recovery_directory
from engine.runtime.start_up_gc import start_up_frozen
from engine.runtime.store_lock import StoreInUse, store_locked
from engine.runtime.store_steps import StoreMismatch, check_steps
from engine.shares import Share, claim
from engine.stopping import clear_stop, request_stop, stop_requested, stopped_before_run

_STEP_IN_MESSAGE = re.compile(r"step ['`\"]?([^\s'`\":]+)")
_EXPLAINED = ("ConnectorError", "ConfigError")  # our own errors already say what to do
# A flow allocates dicts of dicts per event and keeps few of them: with Python's default (700)
# the cyclic GC ran dozens of times per 1000-message batch, and its older-generation passes over
# the growing heap were the latency tail (p99 at 2000 tx/s: 76-1062 ms before, 33-93 ms after).
# Events hold no reference cycles, so collecting rarely frees the same memory, later.
_GC_THRESHOLDS = (50_000, 20, 100)
BYTEWAX_EPOCH = timedelta(seconds=10)  # bytewax.run.cli_main's epoch_interval when given None


class RunOptions:
    """How to run a flow (a plain class: a dataclass costs cpu at every start)."""

    def __init__(self, workers: int = 1, epoch_interval: Optional[timedelta] = None,
                 recovery_directory: Optional[str] = None, process_id: Optional[int] = None,
                 addresses: Optional[List[str]] = None, share: Optional[Share] = None) -> None:
        self.workers = workers
        self.epoch_interval = epoch_interval  # Bytewax's snapshot/epoch length; default 10 s
        self.recovery_directory = recovery_directory
        self.process_id = process_id  # with addresses: this process's index in the cluster
        self.addresses = addresses  # host:port of every process, the same list for all
        self.share = share  # instead of a cluster: this process's share of the partitions (engine/shares.py)


class RunFailed(Exception):
    """The dataflow stopped with an error; ``step`` is the Bytewax step id when known."""

    def __init__(self, message: str, step: Optional[str] = None) -> None:
        super().__init__(message)
        self.message, self.step = message, step


def run_dataflow(flow, options: RunOptions) -> None:
    if not os.environ.get("VELOCITY_FLOW_DEBUG"):
        os.environ["RUST_BACKTRACE"] = "0"  # a failing step is reported in one line below, not as a Rust stack
    recovery = None
    if options.recovery_directory:
        try:
            claim(options.recovery_directory, options.share)  # before the store's files: see engine/shares.py
            with panic_banners_dropped():  # init_db_dir panics on a full disk: said once, by StoreUnusable
                prepare_recovery_directory(options.recovery_directory)
        except (ConfigError, StoreUnusable) as exc:
            raise RunFailed(str(exc)) from None
        recovery = RecoveryConfig(options.recovery_directory)
    keep_heap()
    clear_stop()
    if stopped_before_run():  # a SIGTERM during start-up: a clean stop with nothing to stop,
        request_stop(keep_state=True)  # which the caller reports as a stop
        return
    epoch = options.epoch_interval or BYTEWAX_EPOCH  # (Bytewax's own when none is given)
    run_context.begin(options.recovery_directory, epoch.total_seconds(), options.share)
    try:
        _run(flow, options, recovery)
    finally:
        run_context.end()


def _run(flow, options: RunOptions, recovery) -> None:
    try:
        with store_locked(options.recovery_directory, options.process_id or 0), gc_tuned(), \
                panic_banners_dropped(), signals_stop_cleanly(keep_state=recovery is not None):
            if options.recovery_directory:  # after the lock: a store another run holds is refused first
                check_steps(options.recovery_directory, flow)
            cli_main(flow, workers_per_process=options.workers, process_id=options.process_id,
                     addresses=options.addresses, epoch_interval=options.epoch_interval, recovery_config=recovery)
            run_context.finish()  # e.g. the last Kafka transactions, once the store holds the last epoch
    except KeyboardInterrupt:
        raise
    except (StoreInUse, StoreMismatch) as exc:
        raise RunFailed(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - every runtime failure becomes one clean message
        if _interrupted(exc):  # Ctrl-C / SIGTERM while Bytewax was running: a stop, not a failure
            raise KeyboardInterrupt from None
        damaged = SQLITE_REASON.search(str(exc)) if options.recovery_directory and "SqliteFailure(" in str(exc) \
            else None
        if damaged:  # Bytewax's unwrap of its store's SQLite error: say which store, and what to do
            raise RunFailed(f"the recovery store {options.recovery_directory} cannot be used: {damaged.group(1)} "
                            "(a damaged or foreign file?): restore it, or start afresh with a new recovery "
                            "directory (-r)") from None
        raise _explain(exc) from exc
    except BaseException as exc:  # pyo3's PanicException is a BaseException: Rust failed under us
        if type(exc).__name__ != "PanicException":
            raise
        if "Send thread" in str(exc) or "Recv thread" in str(exc):  # a peer of the cluster is gone
            raise RunFailed("lost the connection to another process of the cluster (it stopped or died)") from None
        raise RunFailed(f"the Bytewax runtime failed: {str(exc).splitlines()[0] if str(exc) else 'panic'}") from None


@contextmanager
def signals_stop_cleanly(keep_state: bool):
    """SIGTERM and SIGINT stop the run cleanly (engine/stopping.py): the sources end, the epoch
    closes with its snapshot, the run returns. A second signal aborts (KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals; a run in a thread stops by request_stop()
        return

    def stop(signum, frame) -> None:
        if stop_requested():
            raise KeyboardInterrupt
        request_stop(keep_state)
        os.write(2, b"velocity-flow: stopping: the sources end at their next batch, then the snapshot "
                    b"(again to abort)\n")

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def gc_tuned():
    """Python's cyclic GC set for a stream of short-lived events, as it was afterwards; what
    start-up made is frozen meanwhile (engine/runtime/start_up_gc.py)."""
    before = gc.get_threshold()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        with start_up_frozen():
            yield
    finally:
        gc.set_threshold(*before)


_PANIC = re.compile(rb"^thread '[^']*' panicked at ")
_PANIC_END = b"note: run with `RUST_BACKTRACE"
_PANIC_LINES = 3


@contextmanager
def panic_banners_dropped():
    """Standard error without Rust's panic banners while the flow runs.

    A Python exception inside a Bytewax callback reaches Rust as a panic, and Rust's panic hook
    prints ``thread '<unnamed>' panicked at src/outputs.rs`` with a payload that names nothing
    a user knows. The failure is reported once, as one line naming the step or sink
    (``_explain``); every other line (librdkafka logs, warnings) is passed on unchanged.
    VELOCITY_FLOW_DEBUG keeps the banners.
    """
    if os.environ.get("VELOCITY_FLOW_DEBUG"):
        yield
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, original), daemon=True)
    forwarder.start()
    # Python-level writes too (logging's last resort, a traceback printed from a worker thread):
    # sys.stderr may be an object with a file of its own (pytest's capture, an IDE), not fd 2
    python_stderr = sys.stderr
    if _fileno(python_stderr) != 2:
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
    try:
        yield
    finally:
        sys.stderr.flush()
        if sys.stderr is not python_stderr:
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(original, 2)  # the pipe's last write end closes: the forwarder reads to its end
        forwarder.join(timeout=5)
        os.close(original)


_TRACEBACK_MARKS = (b"Traceback (most recent call last):", b"The above exception was the direct cause",
                    b"During handling of the above exception")


class _Tracebacks:
    """Drops Python tracebacks (chained ones too) that Bytewax prints from its worker threads
    for an error the runner reports itself, in one line."""

    def __init__(self) -> None:
        self.inside = self.after = False

    def drops(self, line: bytes) -> bool:
        if line.startswith(_TRACEBACK_MARKS):
            self.inside, self.after = True, False
            return True
        if self.inside:
            if line[:1] in (b" ", b"\t", b"^") or not line.strip():
                return True
            self.inside, self.after = False, True  # "SomeError: message", the traceback's last line
            return True
        if self.after and not line.strip():
            return True
        self.after = False
        return False


def _fileno(stream) -> int:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return -1


def _forward(read_end: int, target: int) -> None:
    skipping = 0
    after_note = False
    tracebacks = _Tracebacks()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while True:
            chunk = pipe.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out = []
            for line in lines:
                if tracebacks.drops(line) or (after_note and not line.strip()):
                    after_note = False
                    continue
                after_note = False
                if _PANIC.match(line):
                    skipping = _PANIC_LINES  # the banner, its payload, and (first time only) the note
                elif not skipping:
                    out.append(line + b"\n")
                elif line.startswith(_PANIC_END) or not line.strip():
                    skipping = 0
                    after_note = line.startswith(_PANIC_END)  # a blank line follows the note: drop it too
                else:
                    skipping -= 1
            if out:
                os.write(target, b"".join(out))
        if pending and not skipping:
            os.write(target, pending)


def _interrupted(exc: Optional[BaseException]) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "KeyboardInterrupt" \
                or str(exc).strip().endswith("KeyboardInterrupt"):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _explain(exc: BaseException) -> RunFailed:
    step = None
    root = exc
    seen = set()
    while True:
        match = _STEP_IN_MESSAGE.search(str(root))
        if match and step is None:
            step = match.group(1)
        if type(root).__name__ in _EXPLAINED:
            break
        nxt = root.__cause__ or (None if root.__suppress_context__ else root.__context__)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        root = nxt
    text = str(root).strip().splitlines()[-1] if str(root).strip() else type(root).__name__
    known = type(root).__name__ in _EXPLAINED
    message = text if known else f"{type(root).__name__}: {text}"
    if step:
        message = f"step '{_yaml_name(step)}': {message}"
    return RunFailed(message, step)


def _yaml_name(step_id: str) -> str:
    """``flow.orders:decode.process`` -> ``orders:decode``: drop the flow and inner parts."""
    parts = step_id.split(".")
    return parts[1] if len(parts) > 1 else step_id
