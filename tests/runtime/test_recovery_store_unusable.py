"""A recovery store the disk refuses, and a store from before the mark named by a relative path
(engine/runtime/recovery_store.py). Before: a read-only or missing place was "internal error ...
this is a bug" (exit 4), a full disk Bytewax's panic with a Rust and a Python traceback (exit 1),
and ``-r rec`` on a store without the mark exited 4 at every start (``as_uri()`` of a relative
path): now one line and exit 3, or the store is marked and the run goes on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from bytewax.recovery import init_db_dir

from engine.runtime import recovery_store
from engine.runtime.recovery_store import READY, StoreUnusable, prepare_recovery_directory
from engine.runtime.runner import RunFailed, RunOptions, run_dataflow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLOW = """\
version: 1
name: unusable
sources:
  s: {file: {path: in.jsonl}}
sinks:
  o: {from: s, file: {path: out.jsonl}}
"""


def test_a_store_that_cannot_be_made_is_one_line_and_exit_3(tmp_path):
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "in.jsonl").write_text('{"i": 1}\n')
    store = "/proc/velocity-flow-no-such-place/rec"  # refused to every user, root too
    result = subprocess.run([sys.executable, "-m", "cli", "run", "-q", "-r", store, "flow.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 3, result.stderr
    expected = f"error: cannot create the recovery store {store}: No such file or directory"
    assert result.stderr.strip().splitlines() == [expected]


class PanicException(BaseException):  # as pyo3 names it: Bytewax's unwrap() of an SQLite error
    pass


def test_a_panic_creating_the_store_is_a_run_failure(tmp_path, monkeypatch):
    def full_disk(path, partitions):
        raise PanicException('called `Result::unwrap()` on an `Err` value: RusqliteError { query: "", err: '
                             'SqliteFailure(Error { code: SystemIoFailure, extended_code: 4874 }, '
                             'Some("disk I/O error")) }')

    monkeypatch.setattr(recovery_store, "init_db_dir", full_disk)
    with pytest.raises(RunFailed) as failure:
        run_dataflow(None, RunOptions(recovery_directory=str(tmp_path / "rec")))
    assert failure.value.message == (f"cannot create the recovery store {tmp_path / 'rec'}: disk I/O error "
                                     "(a full or read-only disk?)")


def test_a_disk_error_creating_the_store_is_store_unusable(tmp_path, monkeypatch):
    def no_space(path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recovery_store, "_mark", no_space)
    with pytest.raises(StoreUnusable, match="No space left on device"):
        prepare_recovery_directory(str(tmp_path / "rec"))


def test_a_store_from_before_the_mark_named_relatively_is_marked(tmp_path, monkeypatch):
    (tmp_path / "rec").mkdir()
    init_db_dir(tmp_path / "rec", 1)
    monkeypatch.chdir(tmp_path)
    prepare_recovery_directory("rec")
    assert (tmp_path / "rec" / READY).exists()


def test_a_damaged_store_file_names_the_store_and_what_to_do(tmp_path):
    """A store file that is no SQLite database (damaged, or replaced): Bytewax's unwrap text was
    the whole message at every start; now the store, the reason and the way on, exit 3."""
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "in.jsonl").write_text('{"i": 1}\n')

    def run():
        return subprocess.run([sys.executable, "-m", "cli", "run", "-q", "-r", "rec", "flow.yaml"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": ROOT})

    assert run().returncode == 0
    (store_file,) = [name for name in os.listdir(tmp_path / "rec") if name.endswith(".sqlite3")]
    (tmp_path / "rec" / store_file).write_bytes(b"garbage " * 64)
    result = run()
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the recovery store rec cannot be used: file is not a database (a damaged or foreign file?): "
        "restore it, or start afresh with a new recovery directory (-r)"]
