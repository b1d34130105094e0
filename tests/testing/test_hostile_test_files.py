"""``velocity-flow test`` given test files its authors never wrote: typos, wrong types, empty and
unreadable files, hostile text in names and events, numbers JSON cannot write, a clock pushed
past datetime's end. Each is one located message and a meaningful exit code, never a traceback,
and the JUnit report stays XML (docs/testing.md)."""

import os
import textwrap
import threading
import xml.etree.ElementTree as ET

from engine.testing.spec import load_test_file
from tests.testing.test_command import cli

FLOW = """\
version: 1
name: readings
sources:
  readings: {file: {path: in.jsonl}}
steps:
  - id: parse
    cast: {fields: {sensor: str, temp_c: float, amount: "decimal(10,2)", at: timestamp}}
  - id: totals
    map: {fields: {sensor: sensor, total: temp_c + 0.2, amount: amount}}
sinks:
  out: {from: totals, file: {path: out/out.jsonl}}
dead_letter: {file: {path: out/dead.jsonl}}
"""


def write(folder, text, name="flow.test.yaml"):
    (folder / "flow.yaml").write_text(FLOW)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def run(*argv):
    code, out, err = cli("test", *argv)
    assert "Traceback" not in out + err and "internal error" not in out + err, out + err
    return code, out, err


def test_unknown_keys_and_places_suggest_what_was_meant(tmp_path):
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: typos
            inptus: {readngs: [{sensor: a}]}
            expect: [{at: parze, cuont: 1}]
            dead_letters: [{step: prase, count: 0}]
          - name: a source
            inputs: {readngs: [{sensor: a}]}
            expect: [{at: parse, count: 1}]
            dead_letters: [{step: "sink:out:envelope", count: 0}, {step: "parse:x"}]
    """)
    code, _, err = run(path)
    assert code == 1
    for line, column, hint in ((4, 5, "inputs"), (5, 26, "count"), (5, 19, "parse"), (6, 27, "parse"),
                               (8, 14, "readings")):
        assert f"{path}:{line}:{column}: error:" in err, err
        assert f"did you mean '{hint}'?" in err
    # a misspelt dead-letter step never has dead letters: 'count: 0' held whatever the flow did
    assert "no step, source or sink of the topology is called 'prase'" in err
    assert "called 'parse:x'" in err and "called 'sink:out:envelope'" not in err  # a sink's envelope step is one


def test_an_empty_test_file_is_invalid_not_a_pass(tmp_path):
    for text in ("", "# nothing yet\n"):
        path = write(tmp_path, text)
        code, out, err = run(path)
        assert code == 1 and f"{path}:1:1: error: the test file is empty" in err, out + err
        root = ET.fromstring(run(path, "--format", "junit")[1])
        assert root.get("errors") == "1"


def test_a_missing_topology_is_reported_at_the_topology_line(tmp_path):
    path = write(tmp_path, "topology: flwo.yaml\ntests: [{name: a, expect: [{at: parse, count: 0}]}]\n")
    code, _, err = run(path)
    assert code == 1
    assert f"{path}:1:11: error: the topology file '{tmp_path}/flwo.yaml' does not exist" in err
    assert "did you mean 'flow.yaml'?" in err and "flwo.yaml:1:1" not in err
    path = write(tmp_path, "topology: flow.test.yaml\ntests: [{name: a, expect: [{at: parse, count: 0}]}]\n")
    code, _, err = run(path)
    assert code == 1 and f"{path}:1:11: error: 'topology' names a test file" in err
    assert "unknown top-level key" not in err  # it was validated as a topology


def test_a_test_name_is_one_line_of_text(tmp_path):
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: 2024
            expect: [{at: parse, count: 0}]
          - name: "red \\e[31m \\ud83d"
            expect: [{at: parse, count: 0}]
    """)
    code, out, err = run(path)
    assert code == 1
    assert f"{path}:3:11: error: a test name is text, not a number" in err
    assert f"{path}:5:11: error: a test name cannot hold the control character U+001B" in err
    assert "\x1b" not in out + err
    junit = run(path, "--format", "junit")[1]
    assert ET.fromstring(junit).get("errors") == "1"


def test_junit_and_text_reports_escape_what_events_and_file_names_hold(tmp_path):
    # an event with NUL, ESC and NEL, a file name with a control character and an undecodable byte
    name = "odd\x01" + os.fsdecode(b"\xff") + ".test.yaml"
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: hostile ]]> <x> & "quotes"
            inputs:
              readings: ['{"sensor": "\\u001b[2J\\u0000 \\u0085 ]]>"}', '{"sensor": "b", "temp_c": "\\u0007"}']
            expect: [{at: parse, events: [{sensor: a}]}]
            dead_letters: []
    """, name=name)
    code, out, _ = run(path, "--format", "junit")
    assert code == 1
    root = ET.fromstring(out)  # raised on the old code: control characters written as they are
    suite = root.find("testsuite")
    assert suite.get("name") == path.replace("\x01", "\\u0001").replace(os.fsdecode(b"\xff"), "\\udcff")
    case = suite.find("testcase")
    assert case.get("name") == 'hostile ]]> <x> & "quotes"'
    failure = case.find("failure")
    assert 'got "\\u001b[2J\\u0000 \\u0085 ]]>"' in failure.text
    assert "cannot cast field 'temp_c' value '\\x07'" in failure.text
    code, out, _ = run(path)
    assert code == 1 and 'got "\\u001b[2J\\u0000 \\u0085 ]]>"' in out
    assert not any(c in out for c in "\x00\x1b\x07\x85")


def test_a_clock_pushed_past_the_year_9999_is_located(tmp_path):
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: far
            clock: "9999-12-30T00:00:00Z"
            inputs: [{readings: [{sensor: a}]}, {advance: 2d}]
            expect: [{at: parse, count: 1}]
          - name: farther
            inputs: [{advance: 100000000000d}]
            expect: [{at: parse, count: 0}]
    """)
    code, _, err = run(path)  # the old code ended with an internal error (OverflowError), exit 4
    assert code == 1
    assert f"{path}:5:51: error: 'advance: 2d' moves the clock past the year 9999" in err
    assert f"{path}:8:24: error: 'advance: 100000000000d' moves the clock past the year 9999" in err


def test_an_event_json_cannot_write_is_located_and_a_lone_surrogate_is_a_dead_letter(tmp_path):
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: numbers
            inputs: {readings: [{sensor: a, temp_c: .nan}, {sensor: b, temp_c: 1e400}]}
            expect: [{at: parse, count: 0}]
    """)
    code, _, err = run(path)  # the old code wrote NaN and Infinity: a "malformed JSON" dead letter
    assert code == 1
    assert f"{path}:4:25: error: an event holds NaN or an infinity" in err and f"{path}:4:52:" in err
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: surrogate
            inputs: {readings: ["\\ud83d", {sensor: "\\ud83d"}]}
            expect: [{at: parse, count: 0}]
            dead_letters: [{step: readings, error: UTF-8, count: 2}]
    """)
    assert run(path)[0] == 0  # the old code failed to encode the line: an internal error


def test_an_input_file_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")  # reading it waited for a writer for ever
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: pipe
            inputs: {readings: {file: pipe.jsonl}}
            expect: [{at: parse, count: 0}]
    """)
    loaded = []
    worker = threading.Thread(target=lambda: loaded.append(load_test_file(path)), daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # let the blocked reader go before failing
        os.close(os.open(tmp_path / "pipe.jsonl", os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    assert loaded, "loading the case waited on the FIFO"
    (problem,) = loaded[0].problems
    assert (problem.line, problem.column) == (4, 31) and problem.message.endswith("not a regular file")
    code, _, err = run(path)
    assert code == 1 and f"{path}:4:31: error: cannot read input file" in err


def test_links_that_cannot_be_read_are_test_files_that_cannot_be_read(tmp_path):
    write(tmp_path, "topology: flow.yaml\ntests: [{name: a, expect: [{at: parse, count: 0}]}]\n")
    (tmp_path / "loop.test.yaml").symlink_to("loop.test.yaml")
    (tmp_path / "gone.test.yaml").symlink_to("nowhere.test.yaml")
    code, out, err = run(str(tmp_path))
    assert code == 1 and "1 passed, 0 failed, 2 file(s) not run" in out
    assert "loop.test.yaml:1:1: error: cannot read test file: Too many levels of symbolic links" in err
    assert "gone.test.yaml:1:1: error: cannot read test file: No such file or directory" in err
    assert "topology file" not in err


def test_an_environment_value_in_a_test_file_is_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("VF_HOSTILE_CLOCK", "s3cret-value")
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: clock from the environment
            clock: ${VF_HOSTILE_CLOCK}
            expect: [{at: parse, count: 0}]
    """)
    code, out, err = run(path)
    assert code == 1 and "'clock' must be a timestamp, not '${VF_HOSTILE_CLOCK}'" in err
    assert "s3cret" not in out + err


def test_yaml_timestamps_match_the_text_and_numbers_compare_exactly(tmp_path):
    path = write(tmp_path, """\
        topology: flow.yaml
        tests:
          - name: as a reader means them
            inputs:
              readings: [{sensor: a, temp_c: 0.1, amount: "0.1", at: 2026-11-02T07:00:00+01:00, day: 2026-11-02}]
            expect:
              - at: readings  # before the cast: the event holds the text the input was written as
                events: [{sensor: a, temp_c: 0.1, amount: "0.1", at: 2026-11-02T06:00:00Z, day: 2026-11-02}]
              - at: parse
                contains: [{at: 2026-11-02T06:00:00Z, amount: 0.10}, {at: "2026-11-02T07:00:00+01:00", amount: 0.1}]
              - at: totals
                where: "abs(total - 0.3) < 0.000001"
                contains: [{amount: 0.100}]
          - name: a float sum is not the decimal it looks like
            inputs: {readings: [{sensor: a, temp_c: 0.1, amount: "0.1", at: 2026-11-02T07:00:00Z}]}
            expect:
              - {at: readings, contains: [{at: 2026-11-02T06:00:00Z}]}
              - {at: totals, contains: [{total: 0.3}]}
    """)
    code, out, _ = run(path)
    assert code == 1 and "PASS" in out and "as a reader means them" in out, out
    assert 'at: expected 2026-11-02T06:00:00+00:00, got "2026-11-02T07:00:00+00:00"' in out
    assert "total: expected 0.3, got 0.30000000000000004" in out


def test_a_test_file_that_cannot_be_read_is_called_a_test_file(tmp_path):
    """The loader's own reasons (not UTF-8, too large, unreadable, a YAML tag) name what was read."""
    write(tmp_path, "topology: flow.yaml\ntests: [{name: a, expect: [{at: parse, count: 0}]}]\n")
    (tmp_path / "latin.test.yaml").write_bytes(b"topology: flow.yaml\n# caf\xe9\ntests: []\n")
    (tmp_path / "huge.test.yaml").write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    (tmp_path / "tagged.test.yaml").write_text("topology: !!str flow.yaml\ntests: []\n")
    (tmp_path / "flow.test.yaml").chmod(0)
    try:
        code, _, err = run(str(tmp_path))
    finally:
        (tmp_path / "flow.test.yaml").chmod(0o644)
    assert code == 1
    assert "latin.test.yaml:2:6: error: cannot read test file: byte 0xe9 is not UTF-8" in err, err
    assert "huge.test.yaml:1:1: error: cannot read test file: larger than 4 MiB, which no test file is" in err
    assert "tagged.test.yaml:1:11: error: YAML tag 'tag:yaml.org,2002:str' is not supported" in err
    if os.geteuid() != 0:  # root reads any file
        assert "flow.test.yaml:1:1: error: cannot read test file: Permission denied" in err
    assert "topology file" not in err and "topology files" not in err, err
