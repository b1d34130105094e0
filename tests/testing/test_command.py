"""``velocity-flow test``: YAML unit tests of topologies, run on the real compiled dataflow with
in-memory sources and sinks (docs/testing.md)."""

import io
import json
import pathlib
import textwrap
import xml.etree.ElementTree as ET
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]

FLOW = """\
version: 1
name: readings
sources:
  readings: {file: {path: in.jsonl}}
steps:
  - id: typed
    cast: {fields: {sensor: str, temp_c: float, level: int, at: timestamp}}
  - id: split
    route: {when: {hot: "temp_c > 30"}, otherwise: normal}
  - id: per-minute
    from: typed
    aggregate: {key: sensor, window: {tumbling: 1m, event_time: at}, compute: {n: count(), top: max(temp_c)}}
  - id: held
    from: typed
    micro_batch: {every: 1h}
sinks:
  hot: {from: split.hot, file: {path: out/hot.jsonl}}
  levels: {from: held, duckdb: {path: out/levels.duckdb, table: levels, columns: {sensor: str, level: int}}}
dead_letter: {file: {path: out/dead.jsonl}}
"""

INPUTS = """\
    inputs:
      readings:
        - {sensor: a, temp_c: 31.5, level: 1, at: "2026-11-02T06:00:10Z"}
        - {sensor: a, temp_c: 20, level: 2, at: "2026-11-02T06:00:50Z"}
        - {sensor: a, temp_c: 25, level: 3, at: "2026-11-02T06:01:05Z"}
        - {sensor: b, temp_c: 10, level: 100000000000000000000, at: "2026-11-02T06:00:00Z"}
        - {sensor: a, temp_c: 1, level: 1, at: "2026-11-02T05:00:00Z"}
        - '{"sensor": "c", '
"""

# each expectation kind once, true of INPUTS
PASSING = {
    "events": """\
      - at: split.hot
        events: [{sensor: a, temp_c: 31.5, level: 1, at: "2026-11-02T06:00:10Z"}]""",
    "contains": """\
      - at: per-minute
        contains:
          - {sensor: a, window_start: "2026-11-02T06:00:00Z", n: 2, top: 31.5}
          - {sensor: a, window_start: "2026-11-02T06:01:00Z", n: 1}""",
    "count": """\
      - at: sink:levels
        count: 4""",
    "where": """\
      - at: typed
        where: ["level > 0", "sensor in ['a', 'b']"]""",
}
# the same kinds, each false of INPUTS
FAILING = {
    "events": """\
      - at: split.hot
        events: [{sensor: a, temp_c: 30, level: 1, at: "2026-11-02T06:00:10Z"}]""",
    "contains": """\
      - at: per-minute
        contains: [{sensor: b, n: 5}]""",
    "count": """\
      - at: sink:levels
        count: 3""",
    "where": """\
      - at: typed
        where: "temp_c < 30\"""",
}
DEAD_PASSING = """\
    dead_letters:
      - {step: readings, error: malformed JSON, count: 1}
      - {step: per-minute, error: late event}
      - {step: "sink:levels", error: level, count: 1}"""


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def write(folder, tests, name="flow"):
    (folder / f"{name}.yaml").write_text(FLOW)
    (folder / f"{name}.test.yaml").write_text(f"topology: {name}.yaml\ntests:\n" + textwrap.dedent(tests))
    return str(folder / f"{name}.test.yaml")


def case(name, expect, dead=""):
    return f"  - name: {name}\n{INPUTS}    expect:\n{expect}\n{dead}\n"


def test_the_shipped_topologies_pass(monkeypatch):
    monkeypatch.chdir(ROOT)  # schema files in topologies are relative to the repository root
    code, out, err = cli("test", "topologies/")
    assert code == 0, out + err
    shipped = sorted(p for p in (ROOT / "topologies").rglob("*.yaml") if not p.name.endswith(".test.yaml"))
    tests = list((ROOT / "topologies").rglob("*.test.yaml"))  # a topology may have more (*.world.test.yaml)
    assert " 0 failed" in out and f"({len(tests)} test file(s))" in out
    for topology in shipped:  # every shipped topology has its tests, and they ran
        assert (f"PASS {topology.with_suffix('').relative_to(ROOT)}.test.yaml: ") in out, topology


def test_a_topology_path_runs_its_test_file_and_name_selects_a_case(monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, _ = cli("test", "topologies/examples/transport_orders.yaml", "--name", "heavy orders are routed apart")
    assert code == 0
    assert "PASS topologies/examples/transport_orders.test.yaml: heavy orders are routed apart" in out
    assert "1 passed, 0 failed" in out


@pytest.mark.parametrize("kind", sorted(PASSING))
def test_each_expectation_kind_passes_and_fails(tmp_path, kind):
    path = write(tmp_path, case("holds", PASSING[kind], DEAD_PASSING) + case("broken", FAILING[kind]))
    code, out, err = cli("test", path)
    assert code == 1, out + err
    assert f"PASS {path}: holds" in out and f"FAIL {path}: broken" in out
    line = next(n for n, text in enumerate(open(path).read().splitlines(), 1)
                if text.strip().startswith(f"{kind}:") and n > 20)
    assert f"{path}:{line}:" in out and "test 'broken': expectation at '" in out


def test_a_broken_expectation_says_where_and_shows_a_diff(tmp_path):
    path = write(tmp_path, case("broken", FAILING["events"]))
    code, out, _ = cli("test", path)
    assert code == 1
    assert f"{path}:14:15: test 'broken': expectation at 'split.hot': events: expected 1 event(s), got 1" in out
    assert "event #1: temp_c: expected 30, got 31.5" in out
    assert "   14 |       events: [{sensor: a, temp_c: 30" in out  # the line of the test file


def test_a_raw_malformed_line_is_a_dead_letter_of_the_source(tmp_path):
    path = write(tmp_path, case("dead", "", DEAD_PASSING).replace("    expect:\n\n", ""))
    assert cli("test", path)[0] == 0
    wrong = write(tmp_path, case("dead", "", "    dead_letters: [{step: typed, error: malformed}]")
                  .replace("    expect:\n\n", ""), name="other")
    code, out, _ = cli("test", wrong)
    assert code == 1
    assert "dead letters: expected at least 1 with step 'typed' and an error containing \"malformed\", got 0" in out
    assert "readings: malformed JSON" in out and "origin readings:6" in out  # the 6th input of the source


def test_no_dead_letters_expected_lists_those_that_came(tmp_path):
    path = write(tmp_path, case("clean", PASSING["count"], "    dead_letters: []"))
    code, out, _ = cli("test", path)
    assert code == 1
    assert "expected no dead letter, got 3" in out


def test_junit_xml_has_the_structure_ci_tools_read(tmp_path):
    path = write(tmp_path, case("holds", PASSING["count"]) + case("broken", FAILING["count"]))
    code, out, _ = cli("test", path, "--format", "junit")
    assert code == 1
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == path
    assert {k: suite.get(k) for k in ("tests", "failures", "errors")} == {"tests": "2", "failures": "1", "errors": "0"}
    float(suite.get("time"))
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["holds", "broken"]
    assert all(c.get("classname") == path and float(c.get("time")) >= 0 for c in cases)
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    message = failure.get("message")
    assert message.startswith(f"{path}:") and "count: expected 3 event(s), got 4" in message
    assert "test 'broken'" in failure.text


def test_json_reports_every_failure_with_its_position(tmp_path):
    path = write(tmp_path, case("broken", FAILING["where"]))
    code, out, _ = cli("test", path, "--format", "json")
    assert code == 1
    (result,) = json.loads(out)
    (test,) = result["tests"]
    assert result["file"] == path and not result["passed"] and test["name"] == "broken"
    (failure,) = test["failures"]
    assert failure["at"] == "typed" and failure["line"] == 14
    assert "where 'temp_c < 30' does not hold for 1 of 5 event(s)" in failure["message"]


def test_an_invalid_test_file_is_reported_at_its_line_and_nothing_runs(tmp_path):
    path = write(tmp_path, case("bad", "      - at: typo\n        count: 1"))
    code, out, err = cli("test", path)
    assert code == 1 and "Traceback" not in err
    assert f"{path}:13:11: error: 'at' must be a place of the topology, not 'typo'" in err
    (tmp_path / "flow.yaml").write_text(FLOW.replace("cast:", "cats:"))
    code, out, err = cli("test", path, "--format", "junit")
    assert code == 1
    error = ET.fromstring(out).find("testsuite/testcase/error")
    assert "flow.yaml:7:5: error: unknown operator 'cats'" in error.text


def test_a_path_without_tests_is_a_usage_error(tmp_path):
    (tmp_path / "flow.yaml").write_text(FLOW)
    code, _, err = cli("test", str(tmp_path / "flow.yaml"))
    assert code == 2 and "has no test file: expected" in err
    code, out, _ = cli("test", str(tmp_path), "--format", "json")
    assert code == 2 and json.loads(out)["error"]["kind"] == "usage"


def test_the_documented_example_passes_and_is_the_shipped_case(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    block = (ROOT / "docs" / "testing.md").read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block.split("tests:\n", 1)[1] in (ROOT / "topologies/examples/transport_orders.test.yaml").read_text()
    path = tmp_path / "example.test.yaml"
    path.write_text(block.replace("topology: transport_orders.yaml",
                                  f"topology: {ROOT / 'topologies/examples/transport_orders.yaml'}"))
    code, out, _ = cli("test", str(path))
    assert code == 0 and "1 passed, 0 failed" in out


def test_the_shipped_topologies_as_junit_and_json(monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, _ = cli("test", "topologies/", "--format", "junit")
    root = ET.fromstring(out)
    assert code == 0 and root.get("failures") == "0" and len(root.findall("testsuite")) >= 7
    code, out, _ = cli("test", "topologies/", "--format", "json")
    assert code == 0 and all(result["passed"] for result in json.loads(out))


def test_a_test_file_can_run_a_topology_environment(monkeypatch, tmp_path):
    # Written in tmp_path, not beside the shipped tests: a failing '_env_nope' file in topologies/
    # made a concurrent `test topologies/` (another xdist worker) fail.
    monkeypatch.chdir(ROOT)
    velocity = ROOT / "topologies" / "velocity"
    shipped = (velocity / "pickup_domain.test.yaml").read_text()
    for environment, expected in (("kafka", 0), ("nope", 1)):
        path = tmp_path / f"_env_{environment}.test.yaml"
        path.write_text(shipped.replace("topology: pickup_domain.yaml\n",
                                        f"topology: {velocity / 'pickup_domain.yaml'}\nenvironment: {environment}\n"))
        code, out, err = cli("test", str(path))
        assert code == expected, out + err
        if expected:  # the kafka sources are replaced by the test's inputs: same steps, same results
            assert "no environment 'nope' (known: kafka)" in out + err and ":5:14:" in out + err


def test_inputs_from_a_file_beside_the_test_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "readings.jsonl").write_text(
        '{"sensor": "a", "temp_c": 31.5, "level": 1, "at": "2026-11-02T06:00:10Z"}\n\n{"sensor": "b", \n')
    path = write(tmp_path, """\
      - name: from a file
        inputs:
          readings: {file: data/readings.jsonl}
        expect:
          - {at: split.hot, count: 1}
        dead_letters: [{step: readings, error: malformed JSON, count: 1}]
      - name: a file that is not there
        inputs:
          readings: {file: data/nope.jsonl}
        expect:
          - {at: typed, count: 0}
    """)
    code, out, err = cli("test", path)
    assert code == 1 and "flow.test.yaml:11:22: error: cannot read input file" in err, out + err
    text = (tmp_path / "flow.test.yaml").read_text()
    (tmp_path / "flow.test.yaml").write_text(text.split("- name: a file that is not there")[0])
    code, out, err = cli("test", path)
    assert code == 0 and "1 passed, 0 failed" in out, out + err
