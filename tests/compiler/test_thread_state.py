"""Each Bytewax worker thread keeps one Python thread state for the run (engine/thread_state.py).

With two workers, Bytewax runs them on threads Python did not start and enters Python anew at
every call; the second test shows what that does without engine.thread_state (a
``threading.local`` is empty again at every batch), the first that a worker keeps its state.
"""

from __future__ import annotations

import json
import threading

import pytest

import engine.compiler.connectors as connectors
from engine.operators.decode import Decode
from engine.runtime.runner import RunOptions

TOPOLOGY = """\
version: 1
name: thread-state
sources:
  orders: {{file: {{path: "{dir}/in.jsonl", batch_size: 2}}}}
steps:
  - id: domain
    map: {{fields: {{id: id, twice: "id * 2"}}}}
sinks:
  out: {{from: domain, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""
EVENTS = 40


@pytest.fixture
def calls(monkeypatch) -> list:
    """Per decoded batch: (its thread's id, whether that thread's ``threading.local`` still held
    what an earlier batch of the thread put there)."""
    seen: list = []
    local = threading.local()
    decode = Decode.process

    def process(self, raw):
        seen.append((threading.get_ident(), getattr(local, "set", False)))
        local.set = True
        return decode(self, raw)

    monkeypatch.setattr(Decode, "process", process)
    return seen


def _run(flow) -> list:
    flow.write("in.jsonl", [json.dumps({"id": i}) for i in range(EVENTS)])
    ran = flow.run(TOPOLOGY, RunOptions(workers=2))
    assert sorted(row["twice"] for row in ran.rows("out")) == [2 * i for i in range(EVENTS)]
    return ran.dead


def test_a_worker_thread_keeps_its_thread_state_from_batch_to_batch(flow, calls):
    assert _run(flow) == []
    assert len(calls) == EVENTS // 2  # batches of 2
    threads = {thread for thread, _ in calls}
    assert threading.get_ident() not in threads  # worker threads, not this one
    assert [kept for _, kept in calls].count(False) == len(threads)  # a thread's first batch only


def test_without_it_every_batch_finds_a_new_thread_state(flow, calls, monkeypatch):
    monkeypatch.setattr(connectors, "keep_thread_state", lambda: None)
    assert _run(flow) == []
    assert len(calls) == EVENTS // 2
    assert not any(kept for _, kept in calls)
