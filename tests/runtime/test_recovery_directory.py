"""The processes of a cluster (``run -i 0 -a ...``, ``run -i 1 -a ...``) start together on one
recovery directory: each must find the store created exactly once, never a SQLite panic
("database is locked", or a constraint violation when two write the same partition rows)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3

from engine.runtime.runner import prepare_recovery_directory

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
            with sqlite3.connect(os.path.join(directory, name)) as db:
                assert db.execute("SELECT count(*) FROM parts").fetchone()[0] == 1


def test_an_existing_store_is_left_as_it_is(tmp_path):
    prepare_recovery_directory(str(tmp_path), 1)
    before = {name: os.path.getmtime(tmp_path / name) for name in os.listdir(tmp_path)}
    prepare_recovery_directory(str(tmp_path), 3)
    assert {name: os.path.getmtime(tmp_path / name) for name in os.listdir(tmp_path)} == before
