"""A recovery store resumed only by the flow whose state it holds.

Bytewax resumes each stateful step (a source, a sink, a keyed step) from the snapshots filed
under its step id, and starts afresh a step it finds none for. After a rename in the topology
the renamed step starts afresh while the others resume: a source renamed read its file again
into a sink that resumed at its length (every line written twice), a sink renamed emptied its
file (``mode: overwrite``) while the source resumed past everything it had held. Neither said
a word.

So the store records (``STEPS``) the stateful steps of the flow that last ran on it. A start
whose steps are the same reads that one file and nothing else. One with others is refused
(``StoreMismatch``: one line, exit 3) when steps holding state in the store are gone while new
ones appear and some step would resume: a rename, as far as the store can tell. Steps only
added, or only removed, or a store none of whose state is this flow's (another topology, or
this one under a new ``name:``: every step starts afresh, as on a new store) go on. The
store's SQLite files are read only then, before Bytewax opens them in this process
(engine/connectors/recovery_progress.py says why never during the run).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List, Optional, Set

from bytewax.inputs import FixedPartitionedSource
from bytewax.outputs import FixedPartitionedSink

STEPS = ".velocity-flow-steps"  # the stateful step ids of the flow that last started on the store, one a line


class StoreMismatch(Exception):
    pass


def stateful_steps(flow) -> List[str]:
    """The step ids Bytewax files snapshots under: partitioned sources and sinks, keyed state."""
    found: List[str] = []

    def walk(operators) -> None:
        for op in operators:
            kind = type(op).__name__
            if kind == "stateful_batch" or (kind == "input" and isinstance(op.source, FixedPartitionedSource)) \
                    or (kind == "output" and isinstance(op.sink, FixedPartitionedSink)):
                found.append(op.step_id)
            walk(op.substeps)

    walk(flow.substeps)
    return sorted(found)


def check_steps(directory: str, flow) -> None:
    current = stateful_steps(flow)
    path = os.path.join(directory, STEPS)
    try:
        with open(path, encoding="utf-8") as file:
            before: Optional[List[str]] = file.read().split()
    except FileNotFoundError:
        before = None  # a new store, or one from before the record
    if before == current:
        return
    # another topology's state (another name: step ids begin with it) is no concern of this flow's
    own = f"{flow.flow_id}."
    held = {step for step in _held(directory) if step.startswith(own)}
    last = held if before is None else set(before)
    gone = (last - set(current)) & held  # what the last run had, and left state of
    new = set(current) - last - held  # what this version adds, starting afresh
    kept = set(current) & held  # what resumes
    if gone and new and kept:
        raise StoreMismatch(
            f"the recovery store {directory} holds the state of another version of this flow: "
            f"{_names(gone)} no longer in it, {_names(new)} new; resuming would start {_names(new)} afresh "
            f"while {_names(kept)} resume (output written twice, or lost). Give this version a new -r "
            "DIRECTORY (it starts from the beginning), or run the version that wrote the store")
    _record(path, current)


def _names(steps: Set[str]) -> str:
    """``flow.sink:o`` (and its ``:open``) -> ``'sink:o'``, ``flow.counts.state`` -> ``'counts'``."""
    names = {step.split(".")[1] if "." in step else step for step in steps}
    return ", ".join(sorted({f"'{name[:-5] if name.endswith(':open') else name}'" for name in names}))


def _record(path: str, steps: List[str]) -> None:
    temporary = f"{path}.{os.getpid()}"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write("".join(f"{step}\n" for step in steps))
        os.replace(temporary, path)  # whole or not at all: a cluster's processes write it at once
    except OSError:  # a full or read-only disk: Bytewax says so about the store itself; checked again next start
        try:
            os.remove(temporary)
        except OSError:
            pass


def _held(directory: str) -> Set[str]:
    """The step ids with a snapshot in the store, one index lookup per step (not a scan of every
    snapshot: a store of many keys holds millions). A file SQLite cannot read is left to Bytewax."""
    import sqlite3  # only when the record differs: not at every start

    held: Set[str] = set()
    for file in _store_files(directory):
        try:
            db = sqlite3.connect(f"{Path(file).as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            continue
        try:
            step = ""
            while True:  # the next step id after `step`, by the primary key (step_id, state_key, snap_epoch)
                row = db.execute("SELECT min(step_id) FROM snaps WHERE step_id > ?", (step,)).fetchone()
                if row is None or row[0] is None:
                    break
                step = row[0]
                held.add(step)
        except sqlite3.Error:
            pass
        finally:
            db.close()
    return held


def _store_files(directory: str) -> Iterator[str]:
    for name in sorted(os.listdir(directory)):
        path = os.path.abspath(os.path.join(directory, name))  # as_uri() takes no relative path
        if name.endswith(".sqlite3") and os.path.isfile(path) and os.path.getsize(path):
            yield path
