"""The Kafka sink's partitions (engine/connectors/worker_parts.py), without a broker: one per
worker, each writing only what its own worker encoded (nothing crosses workers), snapshotted at
the end of every epoch it wrote in, after those writes; and a recovery store resumes with another
number of workers (Bytewax panics on a stored partition no worker lists). The dead-letter sink
is one too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from bytewax.outputs import StatefulSinkPartition

from engine.binding import validate_text
from engine.compiler import CompileOptions, compile_topology
from engine.compiler.connectors import declared
from engine.connectors.worker_parts import WorkerPartitionedSink
from engine.runtime.runner import RunOptions, run_dataflow

ROOT = Path(__file__).resolve().parents[2]

TOPOLOGY = """\
version: 1
name: parts
sources: {{orders: {{file: {{path: "{dir}/in", batch_size: 7}}}}}}
steps:
  - id: typed
    cast: {{fields: {{id: int}}}}
sinks:
  out: {{from: typed, kafka: {{brokers: "127.0.0.1:1", topic: t}}}}
dead_letter: {{kafka: {{brokers: "127.0.0.1:1", topic: dead}}}}
"""


class _Recorder(WorkerPartitionedSink):
    """Items are (thread that encoded the event, event); the log has every write and snapshot."""

    def __init__(self, log: list) -> None:
        super().__init__()
        self.log = log

    def encoder(self):
        return lambda event: ((os.getpid(), threading.get_ident()), event)

    def build_part(self, step_id, for_part, resume_state):
        return _Part(self, for_part)


class _Part(StatefulSinkPartition):
    def __init__(self, sink: _Recorder, name: str) -> None:
        self.sink, self.name, self.thread = sink, name, threading.get_ident()

    def write_batch(self, items):
        thread = threading.get_ident()
        assert thread == self.thread
        self.sink.log.append(("write", self.name, (os.getpid(), thread), [item for batch in items for item in batch]))

    def snapshot(self):
        self.sink.log.append(("snapshot", self.name, threading.get_ident()))


def _run(tmp_path, workers: int, log: list, recovery=None, dead_log=None, cluster=(None, None)) -> dict:
    sinks = []

    def build(role, spec, counters):
        if role == "sink" and spec.kind == "kafka":
            sinks.append(_Recorder(log if spec.options["topic"] == "t" else dead_log if dead_log is not None else []))
            return sinks[-1]
        return declared(role, spec, counters)

    result = validate_text("t.yaml", TOPOLOGY.format(dir=tmp_path), env={})
    assert result.ok, [d.message for d in result.diagnostics]
    run_dataflow(compile_topology(result.topology, options=CompileOptions(build=build)),
                 RunOptions(workers=workers, epoch_interval=timedelta(milliseconds=20), recovery_directory=recovery,
                            process_id=cluster[0], addresses=cluster[1]))
    return {(os.getpid(), thread): worker for thread, worker in sinks[0]._workers.items()}  # -> (index, count)


def _files(tmp_path, first: int, count: int) -> list:
    (tmp_path / "in").mkdir(exist_ok=True)
    ids = list(range(first, first + count))
    for f in range(5):  # files are spread over the workers; every 50th event is a dead letter
        lines = "".join(f'{{"id": {i if i % 50 else chr(34) + "x" + chr(34)}}}\n' for i in ids if i % 5 == f)
        with open(tmp_path / "in" / f"f{f}.jsonl", "a") as out:
            out.write(lines)
    return ids


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_each_worker_writes_its_own_items_to_its_own_partition_and_snapshots_after(tmp_path, workers):
    log: list = []
    dead: list = []
    ids = _files(tmp_path, 0, 400)
    threads = _run(tmp_path, workers, log, dead_log=dead)
    assert sorted(v[1] for v in threads.values()) == [workers] * workers
    written = [item for entry in log if entry[0] == "write" for item in entry[3]]
    assert sorted(event["id"] for _, event in written) == [i for i in ids if i % 50]
    assert len([item for entry in dead if entry[0] == "write" for item in entry[3]]) == 400 // 50
    _own_items_only(log, threads)
    last = {}
    for position, entry in enumerate(log):
        last[entry[0], entry[1]] = position
    for kind, name in list(last):
        if kind == "write":
            assert last.get(("snapshot", name), -1) > last["write", name]  # every write is covered by a snapshot


def _own_items_only(log: list, threads: dict) -> None:
    for entry in log:
        if entry[0] == "write":
            _, name, thread, items = entry
            thread = tuple(thread)  # a list, through JSON
            assert int(name) == threads[thread][0]  # the partition of the writing worker
            assert {tuple(encoded_by) for encoded_by, _ in items} == {thread}  # encoded on this worker: nothing crossed


def _member(directory: str, index: int, addresses: list) -> None:
    """One process of a cluster (run by the test below): its log and workers, as JSON."""
    log: list = []
    threads = _run(Path(directory), 1, log, cluster=(index, addresses))
    with open(f"{directory}/member{index}.json", "w") as out:
        json.dump({"log": log, "threads": [[list(k), v] for k, v in threads.items()]}, out)


def test_nothing_crosses_to_another_process(tmp_path):
    """Two processes (``deploy -p 2``): each writes what it read, none of the other's."""
    ids = _files(tmp_path, 0, 400)
    ports = [_free_port(), _free_port()]
    addresses = [f"127.0.0.1:{port}" for port in ports]
    code = ("import sys; from tests.connectors.test_kafka_epoch_partitions import _member; "
            "_member(sys.argv[1], int(sys.argv[2]), sys.argv[3:])")
    members = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(i), *addresses], cwd=ROOT)
               for i in range(2)]
    assert [member.wait(120) for member in members] == [0, 0]
    log, threads = [], {}
    for i in range(2):
        member = json.loads((tmp_path / f"member{i}.json").read_text())
        log += [entry for entry in member["log"] if entry[0] == "write"]
        threads.update({tuple(thread): tuple(worker) for thread, worker in member["threads"]})
    assert sorted(threads.values()) == [(0, 2), (1, 2)]
    assert sorted(event["id"] for entry in log if entry[0] == "write" for _, event in entry[3]) == \
        [i for i in ids if i % 50]
    assert {entry[2][0] for entry in log if entry[0] == "write"} == {m.pid for m in members}  # both wrote
    _own_items_only(log, threads)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_recovery_store_resumes_with_another_number_of_workers(tmp_path):
    store = tmp_path / "rec"
    seen = []
    for first, workers in [(0, 3), (100, 2), (200, 4), (300, 1)]:
        log: list = []
        ids = _files(tmp_path, first, 100)
        _run(tmp_path, workers, log, recovery=str(store))
        seen.append(sorted(event["id"] for entry in log if entry[0] == "write" for _, event in entry[3]))
        assert seen[-1] == [i for i in ids if i % 50]  # each run reads what was appended since
