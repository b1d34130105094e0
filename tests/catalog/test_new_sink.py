"""Adding a sink kind is one declaration and one class: a toy sink in a temporary module is
at once in the JSON Schema, checked by ``validate``, listed in docs/connectors.md and run by
the compiler, with no other edit."""

import json
import pathlib
import sys
import textwrap

import pytest

from engine import catalog
from engine.binding import validate_text
from engine.catalog.docs import connector_docs
from engine.topology.schema import topology_schema

ROOT = pathlib.Path(__file__).parents[2]

PLUGIN = '''
from engine.catalog import Component, Option, register
from engine.connectors.files import JsonlSink


class ShoutSink(JsonlSink):
    """JSON Lines with every text value in capitals (enough to tell it from the file sink)."""

    def __init__(self, path, level=1, metrics=None):
        super().__init__(path, mode="overwrite", metrics=metrics)
        self.level = level

    def encoder(self):
        encode = super().encoder()
        return lambda event: encode({k: v.upper() * self.level if isinstance(v, str) else v for k, v in event.items()})


register(Component(
    "sink", "shout", "Write events as JSON Lines, texts in capitals.", "velocity_shout_plugin:ShoutSink",
    options=(Option("path", "The output file.", {"type": "string", "minLength": 1}, required=True),
             Option("level", "How many times each text is repeated.", {"type": "integer", "minimum": 1}, default=1))))
'''

TOPOLOGY = """\
version: 1
name: t
sources: {{s: {{file: {{path: "{dir}/in.jsonl"}}}}}}
sinks:
  out: {{from: s, shout: {{path: "{dir}/out.jsonl", {extra}}}}}
"""


@pytest.fixture
def shout(tmp_path, monkeypatch):
    (tmp_path / "velocity_shout_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    import velocity_shout_plugin  # noqa: F401 - registers the sink

    yield tmp_path
    catalog.unregister("sink", "shout")
    sys.modules.pop("velocity_shout_plugin", None)


def test_the_new_sink_is_in_the_json_schema(shout):
    schema = topology_schema()
    assert schema["$defs"]["shoutSink"]["properties"]["level"] == {
        "type": "integer", "minimum": 1, "description": "How many times each text is repeated.", "default": 1}
    assert {"required": ["shout"]} in schema["$defs"]["sink"]["oneOf"]
    assert "shout" in schema["$defs"]["deadLetter"]["properties"]


def test_validate_checks_its_options(shout):
    good = validate_text("t.yaml", TOPOLOGY.format(dir=shout, extra="level: 2"), env={})
    assert good.ok and good.topology.sinks["out"].kind == "shout"
    bad = validate_text("t.yaml", TOPOLOGY.format(dir=shout, extra="levle: 2"), env={})
    assert [(d.line, d.message) for d in bad.diagnostics] == [(5, "unknown option 'levle'")]
    assert bad.diagnostics[0].hint == "did you mean 'level'?"
    zero = validate_text("t.yaml", TOPOLOGY.format(dir=shout, extra="level: 0"), env={})
    assert not zero.ok


def test_docs_list_it_with_its_options(shout):
    page = connector_docs((ROOT / "docs" / "connectors.md").read_text(encoding="utf-8"))
    section = page[page.index("## `shout` sink"):]
    assert "Write events as JSON Lines, texts in capitals." in section
    assert "| `path` | required | The output file. |" in section
    assert "| `level` | `1` | How many times each text is repeated. |" in section


def test_the_compiler_runs_it(shout, flow):
    flow.write("in.jsonl", [{"name": "ada"}, {"name": "bob", "n": 2}])
    flow.run(TOPOLOGY, extra="level: 2")
    lines = (flow.dir / "out.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"name": "ADAADA"}, {"name": "BOBBOB", "n": 2}]


def test_after_unregistering_it_is_unknown_again(shout):
    catalog.unregister("sink", "shout")
    result = validate_text("t.yaml", TOPOLOGY.format(dir=shout, extra="level: 2"), env={})
    assert not result.ok and "shout" in result.diagnostics[0].message


def test_the_command_line_loads_it_from_velocity_flow_plugins(tmp_path, monkeypatch, capsys):
    from cli.main import main

    (tmp_path / "velocity_shout_cli.py").write_text(textwrap.dedent(PLUGIN).replace("velocity_shout_plugin",
                                                                                    "velocity_shout_cli"))
    (tmp_path / "in.jsonl").write_text('{"name": "ada"}\n')
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(dir=tmp_path, extra="level: 3"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # its default dead letters (dead-letter/t.jsonl) land here, not in the checkout
    try:
        monkeypatch.setenv("VELOCITY_FLOW_PLUGINS", "velocity_shout_cli")
        assert main(["schema"]) == 0 and "shoutSink" in capsys.readouterr().out
        assert main(["run", "-q", str(path)]) == 0
        assert json.loads((tmp_path / "out.jsonl").read_text()) == {"name": "ADAADAADA"}
        monkeypatch.setenv("VELOCITY_FLOW_PLUGINS", "velocity_no_such_plugin")
        assert main(["validate", str(path)]) == 2
        assert "cannot import plugin 'velocity_no_such_plugin'" in capsys.readouterr().err
    finally:
        catalog.unregister("sink", "shout")
        sys.modules.pop("velocity_shout_cli", None)
