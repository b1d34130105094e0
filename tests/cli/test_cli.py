"""The velocity-flow command: exit codes, output formats, never a traceback."""

import json

import pytest

from cli.main import main

VALID = """\
version: 1
name: orders-demo
sources:
  orders: {file: {path: in.jsonl}}
steps:
  - id: active
    filter: "status != 'DRAFT'"
  - id: split
    route: {when: {heavy: "weight > 100"}, otherwise: light}
sinks:
  heavy: {from: split.heavy, stdout: {}}
  light: {from: split.light, file: {path: light.jsonl}}
"""
BROKEN = VALID.replace("filter:", "fliter:")


@pytest.fixture
def topology(tmp_path):
    def write(text, name="t.yaml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_validate_valid_file_exits_0(topology, capsys):
    assert main(["validate", topology(VALID)]) == 0
    assert "valid (1 source(s), 2 step(s), 2 sink(s))" in capsys.readouterr().out


def test_validate_reports_file_line_column_and_hint_and_exits_1(topology, capsys):
    path = topology(BROKEN)
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out
    assert f"{path}:7:5: error: unknown operator 'fliter'" in out
    assert "    fliter: \"status != 'DRAFT'\"" in out
    assert "did you mean 'filter'?" in out


def test_validate_json_lists_every_file_and_problem(topology, capsys):
    good, bad = topology(VALID, "good.yaml"), topology(BROKEN, "bad.yaml")
    assert main(["validate", "--format", "json", good, bad]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["valid"]) for r in report] == [(good, True), (bad, False)]
    problem = report[1]["diagnostics"][0]
    assert (problem["line"], problem["column"], problem["message"]) == (7, 5, "unknown operator 'fliter'")


def test_missing_file_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 1
    captured = capsys.readouterr()
    assert "cannot read topology file: No such file or directory" in captured.out
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("garbage", ["\x00\x01binary", "- just\n- a list\n", "{{{{", "version: [", "42"])
def test_garbage_input_never_gives_a_traceback(topology, capsys, garbage):
    assert main(["validate", topology(garbage)]) == 1
    captured = capsys.readouterr()
    assert "error" in captured.out and "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("argv", [[], ["validate"], ["frobnicate"], ["run", "x.yaml", "--workers", "0"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2


def test_graph_mermaid_and_dot(topology, capsys):
    path = topology(VALID)
    assert main(["graph", path]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR")
    assert "step_split -->|heavy| sink_heavy" in mermaid
    assert main(["graph", "--format", "dot", path]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph") and 'step_split -> sink_heavy [label="heavy"]' in dot


def test_schema_command_prints_the_bundled_schema(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "velocity-flow topology"
    assert main(["schema", "--path"]) == 0
    assert capsys.readouterr().out.strip().endswith("topology.schema.json")


def test_demo_runs_the_whole_velocity_chain(tmp_path, capsys):
    import duckdb

    assert main(["demo", "--orders", "20", "--seed", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Event Engine -> business events" in out and "A sample of business events" in out
    fast = duckdb.connect(str(tmp_path / "fast_storage.duckdb"), read_only=True)
    assert fast.execute("SELECT count(*) FROM transport_order").fetchone() == (20,)
    business = duckdb.connect(str(tmp_path / "business.duckdb"), read_only=True)
    assert business.execute("SELECT count(DISTINCT type) FROM business_event").fetchone()[0] >= 4
