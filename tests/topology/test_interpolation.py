"""``${VAR}`` in expression options is a literal value, never expression syntax; a whole
unquoted ``${VAR}`` in a non-string field reads like YAML would read its value."""

import json

import pytest

from cli.main import main
from engine.binding import validate_text
from engine.topology.interpolate import as_expression, interpolate

INJECTION = "x' or 'a' == 'a"


def expression(text, **env):
    value, _ = interpolate(text, env)
    return as_expression(value)


@pytest.mark.parametrize("text, env, expected", [
    ("kind == '${ONLY}'", {"ONLY": INJECTION}, "kind == 'x\\' or \\'a\\' == \\'a'"),
    ('kind == "${ONLY}"', {"ONLY": 'a" or "b'}, 'kind == "a\\" or \\"b"'),
    ("kind == '${ONLY}'", {"ONLY": "back\\slash\nline"}, "kind == 'back\\\\slash\\nline'"),
    ("n > ${MIN}", {"MIN": "5"}, "n > 5"),
    ("n > ${MIN}", {"MIN": "2.5e3"}, "n > 2.5e3"),
    ("n > ${MIN}", {"MIN": "-5"}, "n > (-5)"),
    ("flag == ${ON}", {"ON": "true"}, "flag == true"),
    ("kind == ${K}", {"K": "a or true"}, "kind == 'a or true'"),
    ("kind == ${K}", {"K": "it's"}, "kind == 'it\\'s'"),
    ("`${F}` > 0", {"F": "weight kg"}, "`weight kg` > 0"),
    ("'it''s' == '${A}' and b == ${B}", {"A": "x", "B": "y"}, "'it''s' == 'x' and b == 'y'"),
    ("kind == '${K:-a'b}'", {}, "kind == 'a\\'b'"),  # a default is a value too
])
def test_values_become_literals(text, env, expected):
    assert expression(text, **env) == expected


def test_plain_text_is_untouched():
    assert as_expression("kind == 'a'") == "kind == 'a'"
    assert expression("$${X} == 'a'") == "${X} == 'a'"


def test_a_backtick_in_a_field_name_value_is_refused():
    with pytest.raises(ValueError, match="'F' contains '`'"):
        expression("`${F}` > 0", F="a` or true or `b")


HEAD = """\
version: 1
name: t
sources:
  orders: {file: {path: in.jsonl}}
steps:
"""


def topology(filter_text):
    return HEAD + f"""\
  - id: f
    filter: "{filter_text}"
sinks:
  out: {{from: f, file: {{path: out.jsonl, mode: overwrite}}}}
"""


def test_injection_through_a_filter_compares_the_whole_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONLY", INJECTION)
    events = [{"kind": "a"}, {"kind": INJECTION}, {"kind": "b"}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / "t.yaml").write_text(topology("kind == '${ONLY}'"))
    assert main(["run", "-q", "t.yaml"]) == 0
    kept = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert kept == [{"kind": INJECTION}]


def test_unquoted_value_is_a_string_literal_not_code(tmp_path):
    result = validate_text("t.yaml", topology("kind == ${K}"), env={"K": "kind or true"})
    assert result.ok
    assert result.topology.steps[0].config == "kind == 'kind or true'"


def test_number_from_the_environment_compares_as_a_number():
    text = topology("n > ${MIN}").replace("  - id: f\n", "  - id: p\n    cast: {fields: {n: int}}\n  - id: f\n")
    result = validate_text("t.yaml", text, env={"MIN": "10"})
    assert result.ok, result.diagnostics
    assert result.topology.step("f").config == "n > 10"


def test_expressions_in_map_and_route_are_literal_too():
    text = HEAD + """\
  - id: m
    map: {fields: {label: "'${L}'"}, keep: all}
  - id: r
    route: {when: {hit: "label == '${L}'"}, otherwise: miss}
sinks:
  out: {from: r.hit, file: {path: out.jsonl}}
  other: {from: r.miss, file: {path: other.jsonl}}
"""
    result = validate_text("t.yaml", text, env={"L": INJECTION})
    assert result.ok, result.diagnostics
    assert result.topology.step("m").config["fields"]["label"] == "'x\\' or \\'a\\' == \\'a'"
    assert result.topology.step("r").config["when"]["hit"] == "label == 'x\\' or \\'a\\' == \\'a'"


def test_backtick_error_is_located_and_redacted():
    result = validate_text("t.yaml", topology("`${F}` > 0"), env={"F": "a` or true or `bcd"})
    [error] = [d for d in result.diagnostics if d.severity == "error"]
    assert (error.line, error.column) == (7, 13)
    assert "contains '`'" in error.message
    assert "a` or true" not in error.message


def test_batch_size_from_the_environment_is_an_int():
    text = HEAD + """\
  - id: b
    micro_batch:
      size: ${BATCH:-500}
      every: 1s
sinks:
  out: {from: b, file: {path: out.jsonl}}
"""
    from engine.topology.loader import load_text

    for env, size in (({}, 500), ({"BATCH": "20"}, 20)):
        value = load_text("t.yaml", text, env=env).data["steps"][0]["micro_batch"]["size"]
        assert value == size and type(value) is int
