"""engine/connectors/recovery_progress.py reads Bytewax's recovery store as Bytewax's resume does.

- Against Bytewax's own query (src/recovery.rs ``resume_from``, v0.21.1; its ``generate_series``
  written as a recursive CTE, which Python's SQLite lacks) over random execution and frontier
  tables spread over several partition files (Hypothesis).
- Against a real run: inside every ``snapshot`` of a stateful sink, the durable snapshot read
  from the store (through the reader process, as a running flow must: see the module) is an
  earlier state of the same partition, never the current one; after the run it is the last one.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors.recovery_progress import StoreReader, durable_before, durable_snapshot

RESUME_FROM = """
WITH RECURSIVE max_ex AS (
  SELECT ex_num, worker_count, resume_epoch FROM exs WHERE ex_num = (SELECT MAX(ex_num) FROM exs)
),
series(value) AS (SELECT 0 UNION ALL SELECT value + 1 FROM series WHERE value + 1 < (SELECT worker_count FROM max_ex)),
default_progress AS (
  SELECT ex_num, value AS worker_index, resume_epoch AS worker_frontier FROM series CROSS JOIN max_ex
),
explicit_progress AS (
  SELECT ex_num, worker_index, worker_frontier FROM fronts WHERE ex_num = (SELECT MAX(ex_num) FROM exs)
),
max_progress AS (
  SELECT ex_num, worker_index, MAX(worker_frontier) AS worker_frontier
  FROM (SELECT * FROM explicit_progress UNION SELECT * FROM default_progress)
  GROUP BY ex_num, worker_index
)
SELECT ex_num + 1, MIN(worker_frontier) FROM max_progress
"""


def _store(directory: Path, parts: int) -> list:
    directory.mkdir(parents=True, exist_ok=True)
    init_db_dir(directory, parts)
    return sorted(directory.glob("*.sqlite3"))


executions = st.lists(st.tuples(st.integers(1, 3), st.integers(0, 50)), min_size=1, max_size=4)  # (workers, resume)


@settings(max_examples=60, deadline=None)
@given(executions=executions, data=st.data(), parts=st.integers(1, 3))
def test_durable_before_is_bytewax_resume_epoch(tmp_path_factory, executions, data, parts):
    directory = tmp_path_factory.mktemp("store")
    files = _store(directory, parts)
    oracle = sqlite3.connect(":memory:")
    oracle.execute("CREATE TABLE exs (ex_num, worker_count, resume_epoch)")
    oracle.execute("CREATE TABLE fronts (ex_num, worker_index, worker_frontier)")
    for ex_num, (workers, resume) in enumerate(executions):
        rows = [("exs (ex_num, worker_count, resume_epoch)", (ex_num, workers, resume),
                 data.draw(st.sampled_from(files)))]
        for worker in range(workers):
            if data.draw(st.booleans()):  # a worker may not have written its frontier yet
                frontier = resume + data.draw(st.integers(0, 20))
                rows.append(("fronts (ex_num, worker_index, worker_frontier)", (ex_num, worker, frontier),
                             data.draw(st.sampled_from(files))))
        for table, values, path in rows:
            oracle.execute(f"INSERT INTO {table} VALUES (?, ?, ?)", values)
            with sqlite3.connect(path) as part:
                part.execute(f"INSERT INTO {table} VALUES (?, ?, ?)", values)
    expected = oracle.execute(RESUME_FROM).fetchone()[1]
    assert durable_before(str(directory)) == expected


def test_an_empty_store_has_no_durable_epoch(tmp_path):
    _store(tmp_path / "store", 2)
    assert durable_before(str(tmp_path / "store")) is None
    assert durable_snapshot(str(tmp_path / "store"), "flow.out", "0") is None


class _Part(StatefulSinkPartition):
    def __init__(self, reader: StoreReader, step_id: str, key: str, state, seen: list) -> None:
        self.n, self.reader, self.step_id, self.key, self.seen = (state or {}).get("n", 0), reader, step_id, key, seen

    def write_batch(self, items) -> None:
        self.n += len(items)

    def snapshot(self):
        (durable,) = self.reader.durable_fields(self.step_id, self.key, ["n"])
        self.seen.append((self.n, durable))
        return {"n": self.n}

    def close(self) -> None:
        pass


class _Sink(FixedPartitionedSink):
    def __init__(self, reader: StoreReader, seen: list) -> None:
        self.reader, self.seen = reader, seen

    def list_parts(self):
        return ["only"]

    def part_fn(self, item_key):
        return 0

    def build_part(self, step_id, for_part, resume_state):
        return _Part(self.reader, step_id, for_part, resume_state, self.seen)


def test_a_running_sink_sees_only_its_earlier_snapshots_as_durable(tmp_path):
    directory = tmp_path / "store"
    _store(directory, 1)
    seen: list = []
    flow = Dataflow("progress")
    items = op.input("in", flow, TestingSource(list(range(40)), batch_size=1))
    slow = op.map("slow", items, lambda i: (__import__("time").sleep(0.01), ("k", i))[1])
    reader = StoreReader(str(directory))
    op.output("out", slow, _Sink(reader, seen))
    try:
        run_main(flow, epoch_interval=timedelta(milliseconds=50), recovery_config=RecoveryConfig(str(directory)))
    finally:
        reader.close()
    assert len(seen) >= 3, "the run had several epochs"
    durable = [state for _, state in seen if state is not None]
    assert durable, "earlier snapshots became durable during the run"
    for current, state in seen:
        assert state is None or state < current  # never the snapshot being taken, nor a later one
    assert durable == sorted(durable)
    final = durable_snapshot(str(directory), "progress.out", "only")
    assert final is not None and final[1] == {"n": 40} and seen[-1][0] == 40


def _reader(directory) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.connectors.recovery_progress", str(directory)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_reader_whose_flow_was_killed_mid_request_ends_without_a_traceback(tmp_path):
    """The flow's end of the answer pipe is gone (kill -9 while it asked): the reader ends quietly
    (its stderr is the flow's, the user's terminal), as it does when its stdin ends."""
    init_db_dir(tmp_path, 1)
    reader = _reader(tmp_path)
    reader.stdout.close()  # the asking process is gone: its answer has no reader
    reader.stdin.write(b'["out", "0", ["a"]]\n')
    reader.stdin.close()
    assert reader.wait(30) == 0
    assert reader.stderr.read().decode() == ""


def test_a_reader_outlives_a_ctrl_c_and_still_answers(tmp_path):
    """Ctrl-C at a terminal reaches its whole process group, reader included: the flow stops
    cleanly and may still ask; the reader ends only with its stdin."""
    init_db_dir(tmp_path, 1)
    reader = _reader(tmp_path)
    reader.stdin.write(b'["out", "0", ["a"]]\n')
    reader.stdin.flush()
    assert json.loads(reader.stdout.readline()) == [None]  # it is up (and has its handlers set)
    reader.send_signal(signal.SIGINT)
    reader.stdin.write(b'["out", "0", ["a"]]\n')
    reader.stdin.flush()
    assert json.loads(reader.stdout.readline()) == [None]
    reader.stdin.close()
    assert reader.wait(30) == 0
    assert reader.stderr.read().decode() == ""
