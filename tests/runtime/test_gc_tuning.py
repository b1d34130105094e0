"""The runner collects cyclic garbage rarely while a flow runs, and restores the settings after."""

import gc

import pytest

from engine.runtime import runner


def test_a_flow_runs_with_rare_collections_and_the_thresholds_come_back(monkeypatch):
    seen = []
    monkeypatch.setattr(runner, "cli_main", lambda flow, **options: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    runner.run_dataflow(object(), runner.RunOptions())
    assert seen and seen[0][0] >= 10 * 700  # gen 0 collected at least 10x less often than Python's default
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_when_the_flow_fails():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with runner.gc_tuned():
            assert gc.get_threshold() != before
            raise RuntimeError("a step failed")
    assert gc.get_threshold() == before
