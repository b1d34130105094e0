"""Each component is declared once: the JSON Schema, the docs' option tables, the lookups and
the constructors' defaults all agree with engine/catalog."""

import inspect
import pathlib

import pytest

from engine.catalog import NO_DEFAULT, components
from engine.catalog.docs import connector_docs

ROOT = pathlib.Path(__file__).parents[2]
CONNECTORS = [(role, name) for role in ("source", "sink") for name in components(role)]


def test_committed_connector_page_equals_the_generated_one():
    page = (ROOT / "docs" / "connectors.md").read_text(encoding="utf-8")
    assert connector_docs(page) == page, "run: python scripts/connector_docs.py"


def test_every_connector_section_has_its_table():
    page = (ROOT / "docs" / "connectors.md").read_text(encoding="utf-8")
    for role, name in CONNECTORS:
        assert f"<!-- options: {role} {name} -->\n| option | default | meaning |" in page


def _signature(role, name):
    factory = components(role)[name].load()
    if name == "duckdb":  # a function choosing the class: one table is the class with the defaults
        from engine.connectors.duckdb_tables import DuckDBSink

        factory = DuckDBSink
    if name == "kafka" and role == "sink":  # the same: at-least-once is the class with the defaults
        from engine.connectors.kafka_sink import KafkaSink

        factory = KafkaSink
    return inspect.signature(factory)


@pytest.mark.parametrize("role, name", CONNECTORS)
def test_a_constructor_takes_every_declared_option_with_the_declared_default(role, name):
    parameters = _signature(role, name).parameters
    expressions = {path[0] for path in components(role)[name].expression_paths()}  # run before the sink
    for option in components(role)[name].options:
        if option.key in expressions:
            continue
        if option.key == "format" and role == "source":
            continue  # read by the source's decode step, not by the connector
        if name == "duckdb" and option.key in ("tables", "views"):
            continue  # the several-tables class (engine/connectors/duckdb_tables.py)
        assert option.key in parameters, f"{name} {role} takes no '{option.key}'"
        default = parameters[option.key].default
        if option.required:
            assert default is inspect.Parameter.empty, f"{name} {role}: required '{option.key}' has a default"
        elif option.default is not NO_DEFAULT:
            assert default == option.default, f"{name} {role}: '{option.key}' defaults to {default!r}, declared {option.default!r}"


@pytest.mark.parametrize("role", ["source", "sink", "operator"])
def test_every_component_loads_and_describes_every_option(role):
    for name, component in components(role).items():
        assert callable(component.load()), name
        assert component.description, name
        assert all(o.description or o.schema.get("$ref") for o in component.options), name


def test_operators_are_listed_in_declaration_order_in_validate_hints():
    from engine.binding import validate_text

    text = "version: 1\nname: t\nsources: {s: {file: {path: x}}}\nsteps:\n  - id: a\n    from: s\n" \
           "sinks: {o: {from: a, stdout: {}}}\n"
    hint = [d.hint for d in validate_text("t.yaml", text, env={}).diagnostics if "no operator" in d.message][0]
    assert hint == "add one of: " + ", ".join(components("operator"))
