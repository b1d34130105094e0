"""A run tells its connectors how long its epochs are (engine/run_context.py): a Kafka source
partition naps at the end of each instead of spinning (engine/connectors/kafka_tuning.py)."""

import json
from datetime import timedelta

from engine import run_context
from engine.compiler import CompileOptions, compile_topology
from engine.runtime.runner import RunOptions, run_dataflow
from tests.compiler.test_ownership import _topology

BODY = 'sinks:\n  out: {{from: orders, file: {{path: "{dir}/out.jsonl"}}}}\n'


def _epoch_seen(tmp_path, interval):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(3)))
    seen = []
    tap = {"orders": lambda batch: seen.append(run_context.epoch_seconds())}
    flow = compile_topology(_topology(tmp_path, BODY), options=CompileOptions(taps=tap))
    run_dataflow(flow, RunOptions(epoch_interval=interval))
    return seen


def test_the_connectors_of_a_run_know_its_epoch_and_nothing_after_it(tmp_path):
    assert set(_epoch_seen(tmp_path, timedelta(seconds=2))) == {2.0}
    assert set(_epoch_seen(tmp_path, None)) == {10.0}  # Bytewax's own, when none is given
    assert run_context.epoch_seconds() is None
