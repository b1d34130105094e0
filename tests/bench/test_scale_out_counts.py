"""bench/scale_out.py --count: every process of a run under cachegrind, and the run's
instructions the sum of their files' totals."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scale_out import counted, instructions  # noqa: E402


def test_a_counted_run_puts_the_command_and_its_children_under_cachegrind(tmp_path):
    command = counted(["python", "-m", "cli", "deploy", "-p", "2", "flow.yaml"], str(tmp_path / "tree"))
    assert command[:2] == ["valgrind", "--tool=cachegrind"] and "--trace-children=yes" in command
    assert command[-7:] == ["python", "-m", "cli", "deploy", "-p", "2", "flow.yaml"]
    assert f"--cachegrind-out-file={tmp_path / 'tree'}/%p.out" in command
    assert (tmp_path / "tree").is_dir()


def test_a_runs_instructions_are_the_sum_over_its_processes(tmp_path):
    for pid, total in ((101, 2_000_000), (102, 1_500_000), (103, 250)):
        (tmp_path / f"{pid}.out").write_text(f"desc: I1 cache: 32768 B\ncmd: python -m cli run\nevents: Ir\n"
                                            f"fl=x.c\nfn=f\n1 {total}\nsummary: {total}\n")
    assert instructions(str(tmp_path)) == 3_500_250
