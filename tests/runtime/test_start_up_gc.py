"""What start-up made is frozen while a flow runs (engine/runtime/start_up_gc.py): the collector
does not walk it, young objects' count starts again, and all of it is handed back afterwards."""

import gc

import pytest

from engine.runtime import runner
from engine.runtime.start_up_gc import start_up_frozen


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_flow_runs_with_what_start_up_made_frozen_and_it_is_handed_back(monkeypatch):
    seen = []
    made = [_Cycle() for _ in range(100)]  # objects of start-up, young: frozen with the rest
    monkeypatch.setattr(runner, "cli_main", lambda flow, **options: seen.append((gc.get_freeze_count(),
                                                                                 gc.get_count()[0])))
    assert gc.get_freeze_count() == 0
    runner.run_dataflow(object(), runner.RunOptions())
    frozen, young = seen[0]
    assert frozen >= len(made) and young < len(made)
    assert gc.get_freeze_count() == 0
    del made
    assert gc.collect() >= 100  # the cycles made before the run are collected once it has ended


def test_everything_is_handed_back_when_the_flow_fails():
    with pytest.raises(RuntimeError):
        with start_up_frozen():
            assert gc.get_freeze_count() > 0
            raise RuntimeError("a step failed")
    assert gc.get_freeze_count() == 0


def test_nested_blocks_and_an_earlier_freeze_are_kept():
    with start_up_frozen():
        with start_up_frozen():
            pass
        assert gc.get_freeze_count() > 0  # the inner block does not hand back what the outer froze
    assert gc.get_freeze_count() == 0
    gc.freeze()  # someone else's (a server freezing before it forks): theirs to undo
    try:
        with start_up_frozen():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_deploy_compiles_and_runs_with_start_up_frozen(monkeypatch, tmp_path):
    from cli import running
    from engine.binding import validate_text

    monkeypatch.chdir(tmp_path)  # the flow's default dead letters (dead-letter/t.jsonl) go there
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    text = (f"version: 1\nname: t\nsources:\n  s: {{file: {{path: {tmp_path / 'in.jsonl'}}}}}\n"
            f"sinks:\n  out: {{from: s, file: {{path: {tmp_path / 'out.jsonl'}}}}}\n")
    topology = validate_text("t.yaml", text).topology
    seen = []
    import engine.compiler as compiler

    real = compiler.compile_topology
    monkeypatch.setattr(compiler, "compile_topology", lambda *a: (seen.append(gc.get_freeze_count()), real(*a))[1])
    assert running.run_topology(topology, running.run_options(_Args()), None, None, quiet=True) == 0
    assert seen and seen[0] > 0 and gc.get_freeze_count() == 0
    assert (tmp_path / "out.jsonl").read_text() == '{"a":1}\n'


class _Args:
    snapshot_interval = None
    workers = 1
    recovery_directory = None
