"""Damaged topology and test files found by fuzzing (structured mutations of the shipped files:
values swapped for other types, keys renamed, items wrapped; hostile scalars and bytes): each is
reported at the damaged line with exit code 1, never as an internal error (exit 4) or a traceback.

The regressions are written out one by one; the Hypothesis tests at the end repeat the mutations
that found them over every shipped topology (a fixed, derandomized set of examples).
"""

from __future__ import annotations

import contextlib
import copy
import glob
import io
import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.binding import validate_every_environment, validate_text
from engine.expressions import ExpressionError, compile_expression
from engine.topology.diagnostics import Diagnostic, render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPOLOGIES = sorted(p for p in glob.glob(os.path.join(ROOT, "topologies", "**", "*.yaml"), recursive=True)
                    if not p.endswith(".test.yaml"))
UNSHOWN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

HEAD = "version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\n"


def _cli(*argv: str):
    """(exit code, stdout, stderr) of ``velocity-flow argv``, in this process."""
    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _validate(tmp_path, text, name: str = "t.yaml", binary: bool = False):
    """(exit code, output) of ``validate`` on a file holding ``text``; the output is checked: no
    traceback or internal error, each problem on one line, and the JSON form agrees."""
    path = tmp_path / name
    path.write_bytes(text) if binary else path.write_text(text, encoding="utf-8", newline="")
    code, out, err = _cli("validate", str(path))
    assert code in (0, 1), (code, out, err)
    assert "Traceback" not in out + err and "internal error" not in out + err, out + err
    heads = [line for line in out.splitlines() if line.startswith(str(path) + ":") and ": error: " in line]
    assert all(not UNSHOWN.search(line) for line in out.splitlines()), out
    json_code, printed, _ = _cli("validate", "--format", "json", str(path))
    assert json_code == code and len(json.loads(printed)[0]["diagnostics"]) >= len(heads)
    return code, out.replace(str(path), "t.yaml")


def _errors(out: str):
    """(line, column, message) of each error printed."""
    return [(int(m[1]), int(m[2]), m[3]) for m in re.finditer(r"^t\.yaml:(\d+):(\d+): error: (.*)$", out, re.M)]


# The reader skipped steps that are no mapping, so every later step had the index of the one
# before it: errors were blamed on the wrong step, shape errors missed, and a broken step's
# operator was built from its wrong-shaped options (AttributeError: 'str' object has no attribute 'items').
def test_a_step_that_is_no_mapping_keeps_the_other_steps_in_place(tmp_path):
    text = HEAD + ('steps:\n  - 7\n  - id: a\n    filter: "x >"\n  - id: b\n    map: {fields: "oops"}\n'
                   "sinks:\n  out: {from: b, stdout: {}}\n")
    code, out = _validate(tmp_path, text)
    assert code == 1
    assert _errors(out) == [(6, 5, "step #1 must be a mapping, not an integer"),  # once: not also "has no operator"
                            (8, 17, "expected a value, found the end of the expression"),
                            (10, 19, "'fields' must be a mapping, not a string")]


@pytest.mark.parametrize("when", ["[{a: \"x > 1\"}]", "-1180591620717411303424", ".inf"])
def test_route_outputs_that_are_no_mapping(tmp_path, when):
    text = HEAD + (f"steps:\n  - id: r\n    route: {{when: {when}, otherwise: rest}}\n"
                   "sinks:\n  out: {from: r.a, stdout: {}}\n  rest: {from: r.rest, stdout: {}}\n")
    code, out = _validate(tmp_path, text)
    assert code == 1
    assert _errors(out)[0][:2] == (7, 19) and _errors(out)[0][2].startswith("'when' must be a mapping")
    assert (9, 15, "'r' has no output 'a'") in _errors(out)


def test_a_source_schema_that_is_a_mapping(tmp_path):
    text = HEAD.replace("{file: {path: in.jsonl}}", "{file: {path: in.jsonl}, schema: {a: 1}}") + \
        'steps:\n  - {id: f, filter: "x > 1"}\nsinks:\n  out: {from: f, stdout: {}}\n'
    code, out = _validate(tmp_path, text)
    assert code == 1 and _errors(out) == [(4, 39, "'schema' must be a string, not a mapping")]


# decimal(0,0) as a DuckDB column: ValueError from decimal.Context; a precision of 20 digits:
# OverflowError or decimal.Overflow; a window of 99999999999999999999d: OverflowError (timedelta).
@pytest.mark.parametrize(("kind", "message"), [
    ("decimal(0,0)", "decimal(0,0): the scale must be at most the precision, which must be positive"),
    ("decimal(1,2)", "decimal(1,2): the scale must be at most the precision, which must be positive"),
    ("decimal(99999999999999999999,2)", "decimal(99999999999999999999,2): the precision must be at most 1000"),
    ("decimal(1001, 2)", "decimal(1001, 2): the precision must be at most 1000"),
])
def test_decimal_types_out_of_range(tmp_path, kind, message):
    columns = f'{{x: "{kind}"}}'
    tables = f"{{t: {{key: [x], columns: {columns}}}}}"
    text = HEAD + (f'steps:\n  - id: a\n    cast: {{fields: {{x: int, y: "{kind}"}}}}\n'
                   f"sinks:\n  out: {{from: a, duckdb: {{path: o.duckdb, table: t, columns: {columns}}}}}\n"
                   f"  out2: {{from: a, duckdb: {{path: o2.duckdb, tables: {tables}}}}}\n")
    code, out = _validate(tmp_path, text)
    assert code == 1
    assert _errors(out) == [(7, 32, message), (9, 66, message), (10, 81, message)]


@pytest.mark.parametrize("size", ["99999999999999999999d", "9" * 400 + "ms"])
def test_a_duration_too_long(tmp_path, size):
    text = HEAD + ("steps:\n  - id: w\n    aggregate:\n      key: x\n      compute: {n: count()}\n"
                   f"      window: {{tumbling: {size}}}\nsinks:\n  out: {{from: w, stdout: {{}}}}\n")
    code, out = _validate(tmp_path, text)
    assert code == 1 and _errors(out) == [(10, 26, f"duration '{size}' is too long")]
    assert "hint: at most 999999999 days" in out


# The YAML constructor's ValueError ("invalid YAML: ValueError" at 1:1): an integer of more
# than 4300 digits, a date that does not exist.
@pytest.mark.parametrize(("value", "column", "reason"), [
    ("9" * 5000, 4, "as an integer: more than 4300 digits"),
    ("-" + "9" * 5000, 4, "as an integer: more than 4300 digits"),
    ("[" + "9" * 5000 + "]", 5, "as an integer: more than 4300 digits"),
    ("2026-13-01", 4, "'2026-13-01' as a date or time: month must be in 1..12"),
    ("2026-02-30", 4, "'2026-02-30' as a date or time: day is out of range for month"),
])
def test_a_scalar_yaml_cannot_convert_is_located(tmp_path, value, column, reason):
    code, out = _validate(tmp_path, HEAD + f"x: {value}\n")
    assert code == 1
    [(line, col, message)] = _errors(out)
    assert (line, col) == (5, column) and message.startswith("invalid YAML: cannot read '") and reason in message
    assert "quote it to make it text" in out


# A character YAML refuses: the message spanned two lines ('in "<unicode string>", position
# 308') and was blamed on line 1; the offending line was printed with the raw character.
@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b"])
def test_a_character_yaml_refuses_is_located_on_one_line(tmp_path, character):
    code, out = _validate(tmp_path, HEAD + f"x: a{character}b\n")
    code_point = f"{ord(character):04X}"
    assert code == 1 and _errors(out) == [(5, 5, f"invalid YAML: character U+{code_point} is not allowed")]
    assert "    5 | x: a\ufffdb\n" in out and character not in out


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_bytes_that_are_not_utf8_are_located(tmp_path, newline):
    text = (HEAD + "x: a").replace("\n", newline).encode() + b"\xff" + newline.encode()
    code, out = _validate(tmp_path, text, binary=True)
    assert code == 1 and _errors(out) == [(5, 5, "cannot read topology file: byte 0xff is not UTF-8")]
    assert "hint: save the file as UTF-8" in out


# Names and values quoted in messages printed raw: an escape sequence from the file coloured the
# terminal, a newline split the message; an invalid reference was reported twice (invalid, unknown).
def test_control_characters_in_messages_are_escaped(tmp_path):
    text = HEAD + ('steps:\n  - {id: a, filter: "x > 1", from: "s\\e[31mRED\\nline2"}\n'
                   'sinks:\n  out: {from: "a\\u2028b", stdout: {}}\n  "o\\nx": {from: a, stdout: {}}\n')
    code, out = _validate(tmp_path, text)
    assert code == 1
    assert _errors(out) == [(6, 36, "invalid reference 's\\u001b[31mRED\\nline2'"),
                            (8, 15, "invalid reference 'a\\u2028b'"), (9, 3, "invalid name 'o\\nx'")]
    assert render(Diagnostic("f", 1, 1, "a\nb", hint="c\x1bd"), ["x"]) == \
        "f:1:1: error: a\\nb\n    1 | x\n      | ^\n      = hint: c\\u001bd"


# An expression that is not text reached the parser from a test file ('where: [1]'):
# AttributeError: 'int' object has no attribute 'strip'.
@pytest.mark.parametrize("value", [None, 1, ["a > 1"], {"a": 1}, True])
def test_an_expression_that_is_not_text(value):
    with pytest.raises(ExpressionError, match="an expression must be text"):
        compile_expression(value)


def test_a_test_file_whose_where_is_no_expression(tmp_path):
    flow = HEAD + 'steps:\n  - {id: f, filter: "x > 1"}\nsinks:\n  out: {from: f, stdout: {}}\n'
    (tmp_path / "t.yaml").write_text(flow)
    (tmp_path / "t.test.yaml").write_text("topology: t.yaml\ntests:\n  - name: one\n    inputs: {s: [{x: 2}]}\n"
                                          "    expect:\n      - {at: f, count: 1, where: [1, null]}\n")
    code, out, err = _cli("test", str(tmp_path / "t.test.yaml"))
    assert code == 1 and "Traceback" not in out + err and "internal error" not in err, err
    assert f"{tmp_path / 't.test.yaml'}:6:34: error: 'where' must be an expression or a list of expressions" in err


# ---- Hypothesis: the structured mutations that found the bugs above, over every shipped topology

_VALUES = [None, True, 0, -1, 2 ** 70, 1.5, float("inf"), "", "x" * 300, "é🙂", [], {}, [1, 2], {"a": 1}, [[[[]]]],
           "${VF_FUZZ_UNSET}", "(", "a +", "9" * 400, "`", "decimal(0,0)", "decimal(99999999999999999999,2)",
           "99999999999999999999d", "0s", "a.b", "_key", "unknown_fn(a)", "((((((((((1))))))))))"]
_KEYS = ["id", "from", "filter", "map", "key", "route", "when", "otherwise", "fields", "schema", "window", "x", "<<",
         "table", "columns", "tables", "path", "duckdb", "file", "kafka", "steps", "sinks", "sources", "environments"]


def _nodes(node, path=()):
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _nodes(value, (*path, key))


def _mutate(data, draw) -> None:
    """One mutation of a node of ``data``: replaced, deleted, its key renamed, wrapped, or
    replaced by a copy of another node."""
    nodes = list(_nodes(data))[1:]
    path, node = draw(st.sampled_from(nodes))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    kind = draw(st.sampled_from(["replace", "delete", "rename", "wrap", "copy"]))
    if kind == "replace":
        parent[last] = draw(st.sampled_from(_VALUES))
    elif kind == "delete":
        del parent[last]
    elif kind == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from(_KEYS))] = parent.pop(last)
    elif kind == "wrap":
        parent[last] = [node] if draw(st.booleans()) else {"x": node}
    elif kind == "copy":
        parent[last] = copy.deepcopy(draw(st.sampled_from(nodes))[1])


_SAFE = YAML(typ="safe")
_ORIGINALS = {path: _SAFE.load(open(path, encoding="utf-8")) for path in TOPOLOGIES}


def _dumped(data) -> str:
    out = io.StringIO()
    dumper = YAML(typ="safe")
    dumper.default_flow_style, dumper.allow_unicode = None, True
    dumper.dump(data, out)
    return out.getvalue()


def _assert_located(diagnostics, lines):
    for diag in diagnostics:
        assert 1 <= diag.line <= len(lines) + 1 and diag.column >= 1, diag  # + 1: the end of the last line
        assert not UNSHOWN.search(render(diag, lines).split("\n")[0]), diag


@settings(max_examples=1000, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(TOPOLOGIES), st.data())
def test_mutated_topologies_are_reported_not_raised(tmp_path_factory, topology, data):
    document = copy.deepcopy(_ORIGINALS[topology])
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(document, data.draw)
    folder = tmp_path_factory.getbasetemp() / "mutants"
    folder.mkdir(exist_ok=True)
    path = folder / os.path.basename(topology)
    path.write_text(_dumped(document), encoding="utf-8")
    for each in validate_every_environment(str(path)):  # the base, then every environment
        _assert_located(each.diagnostics, each.document.lines)  # only the engine's own errors may be raised
        assert each.ok or each.diagnostics or each.shared_errors


_HOSTILE = ["\t", "\ufeff", "\r\n", "\x00", "\x1b", "\x85", "&a ", "*a ", "<<: *a\n", "!!binary ", "---\n",
            "9" * 5000, "2026-13-01", "{", "[", "'", '"', "${", "$${", "é", ": ", "- ", "|\n"]


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TOPOLOGIES), st.data())
def test_hostile_text_in_topologies_is_reported_not_raised(topology, data):
    with open(topology, encoding="utf-8") as handle:
        text = handle.read()
    for _ in range(data.draw(st.integers(1, 2))):
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(st.sampled_from(_HOSTILE)) + text[at:]
    result = validate_text(topology, text)
    _assert_located(result.diagnostics, result.document.lines)
