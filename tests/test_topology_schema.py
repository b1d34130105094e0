"""schemas/topology.schema.json is what scripts/topology_schema.py generates, and it is sound."""

import json
import pathlib
import runpy

import jsonschema

ROOT = pathlib.Path(__file__).parents[1]


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def test_committed_schema_equals_the_generated_one():
    generated = runpy.run_path(str(ROOT / "scripts" / "topology_schema.py"))["schema"]
    committed = json.loads((ROOT / "schemas" / "topology.schema.json").read_text(encoding="utf-8"))
    assert committed == generated, "run: python scripts/topology_schema.py"


def test_schema_is_valid_2020_12_and_every_property_is_described():
    schema = json.loads((ROOT / "schemas" / "topology.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    undescribed = [
        "/".join(map(str, (*path, name)))
        for path, node in _walk(schema) if path and path[-1] == "properties"
        for name, prop in node.items() if "description" not in prop
    ]
    assert undescribed == []


def test_shipped_topologies_match_the_schema():
    from engine.topology.loader import load_file

    schema = json.loads((ROOT / "schemas" / "topology.schema.json").read_text(encoding="utf-8"))
    files = sorted(p for p in (ROOT / "topologies").rglob("*.yaml") if not p.name.endswith(".test.yaml"))
    assert len(files) >= 6  # the Velocity flows are one file each, with their environments
    for path in files:
        document = load_file(str(path), env={})  # ${VAR:-default} as a user without settings sees it
        assert document.problems == []
        jsonschema.validate(document.data, schema)
