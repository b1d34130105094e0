"""Binding (issue 13): an event schema's ``$ref`` may read files under the topology's own
directory (binding passes it), and nothing outside it; an unknown reference is one error, not
also a complaint of every sink downstream that cannot infer its columns."""

import json
import pathlib

from engine.binding import validate_file, validate_text

TOPOLOGY = """\
version: 1
name: t
sources:
  s: {file: {path: in.jsonl}, schema: "%s"}
steps:
  - id: m
    map: {fields: {a: a}}
sinks:
  out: {from: m, stdout: {}}
"""


def _write(path: pathlib.Path, value) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return str(path)


def _errors(result):
    return [d.message for d in result.diagnostics if d.severity == "error"]


def test_a_schema_ref_may_read_a_file_under_the_topology_directory(tmp_path, monkeypatch):
    # the schema lives elsewhere (relative to the working directory); what it refers to lives
    # beside the topology: allowed, since binding passes the topology's directory
    flows = tmp_path / "flows"
    common = _write(flows / "common.json", {"type": "integer"})
    schema = _write(tmp_path / "elsewhere" / "s.json",
                    {"type": "object", "properties": {"a": {"$ref": pathlib.Path(common).as_uri()}}})
    path = flows / "t.yaml"
    path.write_text(TOPOLOGY % schema)
    monkeypatch.chdir(tmp_path)
    result = validate_file(str(path), env={})
    assert _errors(result) == []
    assert result.topology.sources["s"].event_schema.violation({"a": "x"}) is not None


def test_a_schema_ref_outside_the_topology_schema_and_bundled_directories_is_refused(tmp_path, monkeypatch):
    other = _write(tmp_path / "other" / "x.json", {"type": "integer"})
    schema = _write(tmp_path / "elsewhere" / "s2.json",
                    {"type": "object", "properties": {"a": {"$ref": pathlib.Path(other).as_uri()}}})
    path = tmp_path / "flows" / "t.yaml"
    path.parent.mkdir()
    path.write_text(TOPOLOGY % schema)
    monkeypatch.chdir(tmp_path)
    [message] = _errors(validate_file(str(path), env={}))
    assert "is not allowed" in message


EXAMPLE = (pathlib.Path(__file__).parents[2] / "topologies" / "examples" / "transport_orders.yaml").read_text()


def test_an_unknown_reference_upstream_of_an_inferred_table_is_one_error():
    text = EXAMPLE.replace("  - id: active\n", "  - id: active\n    from: parsee\n")
    result = validate_text(str(pathlib.Path(__file__).parents[2] / "topologies/examples/t.yaml"), text, env={})
    assert _errors(result) == ["unknown reference 'parsee'"]
