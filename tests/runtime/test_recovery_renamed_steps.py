"""A recovery store resumed by another version of its flow (engine/runtime/store_steps.py).

Bytewax resumes each stateful step by its id and starts afresh one it has no snapshot of: a
source renamed read its file again into a sink that resumed (every line twice), a sink renamed
emptied its file while the source resumed past it (lines lost), both exiting 0. Now such a start
is refused in one line (exit 3) and the store is left for the version that wrote it; changes
that resume correctly (a step added, another topology on the store) still run."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLOW = """\
version: 1
name: {name}
sources:
  {source}: {{file: {{path: in.jsonl}}}}
steps:
  - id: typed
    from: {source}
    cast: {{fields: {{i: int}}}}
sinks:
  {sink}: {{from: typed, file: {{path: out.jsonl}}}}
{more}dead_letter: {{file: {{path: dead.jsonl}}}}
"""


def _run(tmp_path, lines: int, name: str = "versions", source: str = "s", sink: str = "o", more: str = ""):
    (tmp_path / "flow.yaml").write_text(FLOW.format(name=name, source=source, sink=sink, more=more))
    (tmp_path / "in.jsonl").write_text("".join(f'{{"i": {i}}}\n' for i in range(lines)))
    return subprocess.run([sys.executable, "-m", "cli", "run", "-q", "-r", "rec", "flow.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": ROOT})


def _out(tmp_path):
    return (tmp_path / "out.jsonl").read_text().splitlines()


def _refused(result, *names: str) -> None:
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "another version of this flow" in lines[0], result.stderr
    assert all(f"'{name}'" in lines[0] for name in names), lines[0]


def test_a_renamed_source_is_refused_instead_of_writing_every_line_twice(tmp_path):
    assert _run(tmp_path, 5).returncode == 0
    _refused(_run(tmp_path, 8, source="orders"), "s", "orders")
    assert _out(tmp_path) == [f'{{"i":{i}}}' for i in range(5)]
    resumed = _run(tmp_path, 8)  # the version that wrote the store resumes it
    assert resumed.returncode == 0, resumed.stderr
    assert _out(tmp_path) == [f'{{"i":{i}}}' for i in range(8)]


def test_a_renamed_sink_is_refused_instead_of_emptying_its_file(tmp_path):
    assert _run(tmp_path, 5).returncode == 0
    _refused(_run(tmp_path, 8, sink="everything"), "sink:o", "sink:everything")
    assert _out(tmp_path) == [f'{{"i":{i}}}' for i in range(5)]


def test_a_sink_added_runs_and_the_others_resume(tmp_path):
    assert _run(tmp_path, 5).returncode == 0
    added = _run(tmp_path, 8, more="  copy: {from: typed, file: {path: copy.jsonl}}\n")
    assert added.returncode == 0, added.stderr
    assert _out(tmp_path) == [f'{{"i":{i}}}' for i in range(8)]
    assert (tmp_path / "copy.jsonl").read_text().splitlines() == [f'{{"i":{i}}}' for i in range(5, 8)]


def test_another_topology_on_the_store_starts_afresh_and_the_first_resumes_after(tmp_path):
    assert _run(tmp_path, 5).returncode == 0
    other = _run(tmp_path, 6, name="other")
    assert other.returncode == 0, other.stderr
    assert _out(tmp_path) == [f'{{"i":{i}}}' for i in range(6)]  # a new flow: the file made anew
    back = _run(tmp_path, 8)
    assert back.returncode == 0, back.stderr
    assert _out(tmp_path) == [f'{{"i":{i}}}' for i in range(8)]  # cut back to its 5 lines, then 5..7
