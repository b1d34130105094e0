"""The recovery store's creation (engine/runtime/recovery_store.py). The processes of a cluster
(``run -i 0 -a ...``, ``run -i 1 -a ...``) start together on one recovery directory: each must
find the store created exactly once, never a SQLite panic ("database is locked", or a
constraint violation when two write the same partition rows). A creation a kill interrupted is
made again when it holds nothing to resume from; a store with progress is never touched."""

from __future__ import annotations

import multiprocessing
from contextlib import closing
import os
import sqlite3
import subprocess
import sys

from bytewax.recovery import init_db_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.runtime.recovery_store import READY, prepare_recovery_directory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROCESSES, ROUNDS, PARTITIONS = 4, 8, 2


def _prepare_each(directories, barrier, results) -> None:
    for directory in directories:
        barrier.wait(timeout=60)  # all processes enter the same fresh directory at once
        try:
            prepare_recovery_directory(directory, PARTITIONS)
            results.put(None)
        except BaseException as exc:  # Bytewax's PanicException derives from BaseException
            results.put(f"{type(exc).__name__}: {exc}"[:300])


def test_processes_creating_one_store_at_once_all_succeed(tmp_path):
    directories = [str(tmp_path / f"rec-{n}") for n in range(ROUNDS)]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    workers = [context.Process(target=_prepare_each, args=(directories, barrier, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    errors = [results.get(timeout=120) for _ in range(PROCESSES * ROUNDS)]
    for worker in workers:
        worker.join(timeout=60)
    assert [error for error in errors if error] == []
    for directory in directories:
        stores = sorted(name for name in os.listdir(directory) if name.endswith(".sqlite3"))
        assert len(stores) == PARTITIONS
        for name in stores:  # each a complete store Bytewax can open
            with closing(sqlite3.connect(os.path.join(directory, name))) as db:
                assert db.execute("SELECT count(*) FROM parts").fetchone()[0] == 1


def test_an_existing_store_is_left_as_it_is(tmp_path):
    prepare_recovery_directory(str(tmp_path), 1)
    before = {name: os.path.getmtime(tmp_path / name) for name in os.listdir(tmp_path)}
    prepare_recovery_directory(str(tmp_path), 3)
    assert {name: os.path.getmtime(tmp_path / name) for name in os.listdir(tmp_path)} == before


# -- a creation interrupted by a kill (the first start's first milliseconds) ---------------------
def _files(directory) -> dict:
    """Each file's bytes; a store's SQLite files by their rows (reading one moves its -shm index)."""
    files = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith((".sqlite3-shm", ".sqlite3-wal")):
            continue  # SQLite's own, made by any reader in WAL mode
        if name.endswith(".sqlite3") and os.path.getsize(directory / name):
            files[name] = _rows(directory / name)
        else:
            files[name] = (directory / name).read_bytes()
    return files


def _rows(path):
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {table: db.execute(f"SELECT * FROM {table}").fetchall() for table in tables}  # noqa: S608
    except sqlite3.DatabaseError:
        return path.read_bytes()


def _whole(directory, partitions: int) -> bool:
    rows = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".sqlite3"):
            with closing(sqlite3.connect(directory / name)) as db:
                rows += db.execute("SELECT part_index, part_count FROM parts").fetchall()
    return sorted(rows) == [(i, partitions) for i in range(partitions)] and (directory / READY).exists()


def _tables_only(path) -> None:
    """A partition file as a kill leaves it after Bytewax made its tables, before its row."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE parts (part_index INTEGER PRIMARY KEY NOT NULL, part_count INTEGER NOT NULL)")
        db.execute("CREATE TABLE snaps (step_id TEXT NOT NULL, state_key TEXT NOT NULL)")


def _with_progress(path) -> None:
    """A snapshot row, as a run writes it."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES ('s', 'k', 1, NULL)")


HARM = {"delete": lambda path: os.remove(path), "empty": lambda path: open(path, "wb").close(),
        "tables only": lambda path: (os.remove(path), _tables_only(path))}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(partitions=st.integers(1, 3), harms=st.lists(st.sampled_from(["keep", *HARM]), min_size=3, max_size=3),
       progress=st.booleans())
def test_an_interrupted_creation_is_made_again_and_a_store_with_progress_is_never_touched(tmp_path_factory, partitions,
                                                                                          harms, progress):
    directory = tmp_path_factory.mktemp("store")
    init_db_dir(directory, partitions)
    names = sorted(os.listdir(directory))
    if progress:
        _with_progress(directory / names[0])
        harms = ["keep", *harms[1:]]  # the file holding the snapshot survives
    for name, harm in zip(names, harms, strict=False):
        if harm != "keep":
            HARM[harm](directory / name)
    before = _files(directory)
    prepare_recovery_directory(str(directory), partitions)
    if not progress:
        assert _whole(directory, partitions)
    elif set(harms[:partitions]) == {"keep"}:  # whole, with progress: marked, nothing else changed
        assert _files(directory) == {**before, READY: (directory / READY).read_bytes()}
    else:  # not a row changed, not marked: Bytewax tells what is wrong
        assert _files(directory) == before


def test_a_store_from_before_the_mark_is_marked_and_left_as_it_is(tmp_path):
    init_db_dir(tmp_path, 2)
    before = _files(tmp_path)
    prepare_recovery_directory(str(tmp_path), 2)
    assert (tmp_path / READY).exists()
    assert {k: v for k, v in _files(tmp_path).items() if k != READY} == before


def test_a_file_that_is_not_a_store_is_left_to_bytewax(tmp_path):
    (tmp_path / "part-0.sqlite3").write_bytes(b"not a database, and not empty")
    prepare_recovery_directory(str(tmp_path), 1)
    assert _files(tmp_path) == {"part-0.sqlite3": b"not a database, and not empty"}


FLOW = """\
version: 1
name: interrupted
sources:
  s: {file: {path: in.jsonl}}
sinks:
  o: {from: s, file: {path: out.jsonl, mode: append}}
dead_letter: {file: {path: dead.jsonl}}
"""


def test_a_run_on_an_interrupted_store_starts_and_the_next_one_resumes(tmp_path):
    """Before: every start exited 3 ('No recovery partitions found on any worker')."""
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "in.jsonl").write_text("".join(f'{{"i": {i}}}\n' for i in range(5)))
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "part-0.sqlite3").write_bytes(b"")  # killed just after creating the file
    command = [sys.executable, "-m", "cli", "run", "-q", "-r", "rec", "flow.yaml"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": ROOT})
    assert first.returncode == 0, first.stderr
    assert "created again" in first.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert second.returncode == 0, second.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5  # resumed after the file's end
