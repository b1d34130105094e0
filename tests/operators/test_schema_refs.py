"""Event schemas are untrusted input (issue 13): a ``$ref`` reads only files under the schema's
directory, the topology's directory or the bundled schemas, never the network or other files;
a schema that is not an object, or has a bad ``pattern``, is a clear validate error."""

import io
import json
import os
import pathlib
import socket
import urllib.request
from contextlib import redirect_stderr, redirect_stdout

import pytest

from engine.errors import ConfigError
from engine.operators.jsonschemas import EventSchema
from engine.resources import schema_path


def write(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return str(path)


def ref_schema(ref):
    return {"type": "object", "properties": {"a": {"$ref": ref}}}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a schema $ref reached the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("ref", [
    "http://127.0.0.1:9/x.json", "https://example.com/s.json#/a", "file:///etc/hostname", "file:///etc/passwd#/x",
    "../outside.json", "../../../../../../etc/hostname", "ftp://example.com/x.json", "data:,{}",
    "//example.com/x.json",
])
def test_refs_outside_the_allowed_directories_are_refused(tmp_path, no_network, ref):
    write(tmp_path / "outside.json", {"type": "string"})
    path = write(tmp_path / "schemas" / f"s{abs(hash(ref))}.json", ref_schema(ref))
    with pytest.raises(ConfigError) as caught:
        EventSchema(path)
    assert "is not allowed" in caught.value.message
    assert "hostname" not in caught.value.message or "/etc/hostname" in ref


def test_a_symlink_out_of_the_directory_is_refused(tmp_path, no_network):
    write(tmp_path / "secret.json", {"type": "string"})
    (tmp_path / "schemas").mkdir()
    os.symlink(tmp_path / "secret.json", tmp_path / "schemas" / "link.json")
    path = write(tmp_path / "schemas" / "s.json", ref_schema("link.json"))
    with pytest.raises(ConfigError, match="is not allowed"):
        EventSchema(path)


def test_an_id_does_not_move_relative_refs_to_the_network(tmp_path, no_network):
    write(tmp_path / "common.json", {"type": "string", "maxLength": 3})
    path = write(tmp_path / "s.json", {"$id": "https://example.com/s.json", **ref_schema("common.json")})
    schema = EventSchema(path)  # common.json next to the file, not https://example.com/common.json
    assert schema.violation({"a": "abc"}) is None
    assert "a" in schema.violation({"a": "abcd"})


def test_refs_to_sibling_files_local_pointers_and_extra_roots_work(tmp_path, no_network):
    write(tmp_path / "topology" / "defs" / "kinds.json", {"definitions": {"k": {"enum": ["x", "y"]}}})
    local = write(tmp_path / "topology" / "defs" / "local.json",
                  {"definitions": {"n": {"type": "integer"}}, "type": "object",
                   "properties": {"n": {"$ref": "#/definitions/n"}, "k": {"$ref": "kinds.json#/definitions/k"}}})
    schema = EventSchema(local)
    assert schema.violation({"n": 1, "k": "x"}) is None
    assert schema.violation({"n": 1, "k": "z"}) is not None
    up = write(tmp_path / "topology" / "schemas" / "up.json", ref_schema("../defs/kinds.json#/definitions/k"))
    with pytest.raises(ConfigError, match="is not allowed"):
        EventSchema(up)
    assert EventSchema(up, roots=[str(tmp_path / "topology")]).violation({"a": "y"}) is None


def test_the_bundled_schemas_may_be_referenced(tmp_path, no_network):
    bundled = os.path.join(schema_path(""), "domain", "pickup.schema.json")
    path = write(tmp_path / "s.json", ref_schema(f"file://{bundled}"))
    assert EventSchema(path).fields == {"a": "any"}


@pytest.mark.parametrize("content, words", [
    ("[1, 2]", "JSON array"),
    ('"text"', "JSON string"),
    ("7", "JSON number"),
    ("null", "JSON null"),
    ('{"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}}', "bad regular expression"),
    ('{"type": "object", "properties": {"a": {"type": 7}}}', "not a valid JSON Schema"),
    ('{"properties": []}', "not a valid JSON Schema"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
    ('{"type": "object"', "not valid JSON"),
    ('{"properties": {"a": {"maxLength": 1e400}}}', "too large"),
    ('{"properties": {"a": {"const": NaN}}}', "NaN is not JSON"),
    ('{"$ref": "#"}', "refers to itself without end"),
    ('{"definitions": {"a": {"$ref": "#/definitions/a"}}, "properties": {"x": {"$ref": "#/definitions/a"}}}',
     "refers to itself without end"),
])
def test_bad_schema_documents_are_config_errors(tmp_path, content, words):
    """Each would otherwise crash validate (exit 4) or fail on every event at run time."""
    path = write(tmp_path / "bad.json", content)
    try:
        EventSchema(path)
    except ConfigError as exc:
        assert words in exc.message
    else:
        pytest.fail("accepted")


TOPOLOGY = """\
version: 1
name: t
sources:
  orders: {{file: {{path: in.jsonl}}, schema: {schema}}}
sinks:
  out: {{from: orders, stdout: {{}}}}
"""


@pytest.mark.parametrize("content", [
    "[1, 2]", json.dumps(ref_schema("http://127.0.0.1:9/x.json")), json.dumps(ref_schema("file:///etc/hostname")),
    '{"type": "object", "properties": {"a": {"pattern": "(("}}}',
])
def test_validate_reports_bad_schemas_as_invalid_topologies(tmp_path, no_network, monkeypatch, content):
    from cli.main import main

    schema = write(tmp_path / "bad.schema.json", content)
    topology = write(tmp_path / "t.yaml", TOPOLOGY.format(schema=schema))
    for argv in (["validate", topology], ["validate", "--format", "json", topology]):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(argv)
        assert code == 1, out.getvalue() + err.getvalue()
        assert "internal error" not in out.getvalue() + err.getvalue()
    assert json.loads(out.getvalue())[0]["valid"] is False


def test_a_recursive_schema_for_trees_still_works(tmp_path):
    tree = {"$ref": "#/definitions/node", "definitions": {"node": {
        "type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/node"}}}}}}
    schema = EventSchema(write(tmp_path / "tree.json", tree))
    assert schema.violation({"children": [{"children": []}, {}]}) is None
    assert schema.violation({"children": [{"children": 3}]}) is not None


@pytest.mark.parametrize("keyword, depth", [("properties", 40), ("properties", 120), ("items", 30), ("items", 400)])
def test_deeply_nested_schemas_are_config_errors_not_crashes(tmp_path, keyword, depth):
    schema = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}} if keyword == "properties" else {"items": schema}
    path = write(tmp_path / "deep.json", schema)
    try:
        EventSchema(path)
    except ConfigError as exc:
        assert "nested" in exc.message


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo", "dir", "big"])
def test_schemas_that_are_not_small_regular_files_are_refused_without_reading(tmp_path, special):
    if special == "fifo":
        special = str(tmp_path / "fifo.json")
        os.mkfifo(special)  # opening it would block until a writer came
    elif special == "dir":
        special = str(tmp_path)
    elif special == "big":
        special = write(tmp_path / "big.json", '{"description": "' + "x" * (9 * 2 ** 20) + '"}')
    with pytest.raises(ConfigError, match="not a regular file|larger than"):
        EventSchema(special)
    ref = write(tmp_path / "ref.json", ref_schema(pathlib.Path(special).as_uri()))
    with pytest.raises(ConfigError, match="not a regular file|larger than|is not allowed"):
        EventSchema(ref, roots=[str(tmp_path)])
