"""One mistake, one error; mistakes that only showed at run time are found by validate:
a column type no value of its field fits, and (a warning) a read of a field whose name is a
near miss of a known one in open events."""

import pathlib

import pytest

from cli.main import main
from engine.binding import validate_text
from engine.connectors.errors import ConnectorError
from engine.connectors.files import find_files

EXAMPLE = (pathlib.Path(__file__).parents[2] / "topologies" / "examples" / "transport_orders.yaml").read_text()

# (what is broken, text replaced, replacement, the one error expected: line, message start)
BROKEN_STEPS = [
    ("unknown function in a map feeding an inferred table", "status: upper(status)", "status: uper(status)",
     (24, "unknown function 'uper'")),
    ("filter syntax upstream of everything", "weight_kg > 0\"", "weight_kg >\"", (17, "expected a value")),
    ("schema file missing in the map", "schemas/examples/transport_order.schema.json", "nope.json",
     (30, "cannot read schema file 'nope.json'")),
    ("unknown aggregation", "max(weight_kg)", "maks(weight_kg)", (42, "unknown aggregation 'maks'")),
    ("typo in an aggregation argument", "max(weight_kg)", "max(weight_kgg)", (42, "unknown field 'weight_kgg'")),
    ("cast type in the first step", "fields: {order_id: int,", "fields: {order_id: integer,",
     (14, "unknown type 'integer'")),
]


def errors(text, path="topologies/examples/t.yaml"):
    result = validate_text(str(pathlib.Path(__file__).parents[2] / path), text, env={})
    return [(d.line, d.message) for d in result.diagnostics if d.severity == "error"], result


@pytest.mark.parametrize("what, old, new, expected", BROKEN_STEPS, ids=[c[0] for c in BROKEN_STEPS])
def test_a_broken_step_is_one_error_not_a_cascade_at_its_sinks(what, old, new, expected):
    assert old in EXAMPLE
    found, _ = errors(EXAMPLE.replace(old, new))
    assert len(found) == 1, found
    assert found[0][0] == expected[0] and found[0][1].startswith(expected[1]), found


def test_the_example_is_valid_without_warnings():
    found, result = errors(EXAMPLE)
    assert found == [] and result.diagnostics == []


def test_a_sink_with_declared_columns_after_a_broken_step_still_checks_its_own_options():
    text = EXAMPLE.replace("status: upper(status)", "status: uper(status)").replace("key: [order_id]", "key: [nope]")
    found, _ = errors(text)
    assert [m for _, m in found] == ["unknown function 'uper'", "key column 'nope' is not among the columns"]


@pytest.mark.parametrize("column, field_expression, fits", [
    ("int", "upper(status)", False), ("float", "upper(status)", False), ("bool", "upper(status)", False),
    ("str", "order_id", False), ("str", "weight_kg > 1", False), ("timestamp", "date(planned_at)", False),
    ("date", "order_id", False), ("str", "planned_at", False), ("int", "weight_kg > 1", True),
    ("decimal(12,2)", "upper(status)", True), ("date", "planned_at", True), ("json", "order_id", True),
    ("float", "order_id", True), ("str", "customer", True), ("int", "destination.zip", True),
])
def test_a_column_no_value_of_its_field_fits_is_refused(column, field_expression, fits):
    text = EXAMPLE.replace("customer: customer\n", f"customer: {field_expression}\n") \
                  .replace("customer: str,", f"customer: \"{column}\",")
    found, _ = errors(text)
    if fits:
        assert found == []
    else:
        assert len(found) == 1 and found[0][0] == 54, found
        assert found[0][1].startswith(f"column 'customer' is {column}, but field 'customer' of 'to-domain' is "), found


TYPO = """\
version: 1
name: t
sources:
  s: {file: {path: in.jsonl}}
steps:
  - id: c
    cast: {fields: {temp_c: float, device: str}}
  - id: per-device
    aggregate: {key: device, compute: {hottest: "max(%s)"}, emit: final}
sinks:
  out: {from: per-device, stdout: {}}
"""


def test_a_near_miss_of_a_cast_field_in_open_events_is_a_warning_at_the_name():
    result = validate_text("t.yaml", TYPO % "temp_cc", env={})
    assert result.ok and result.topology is not None  # open events may carry temp_cc: not an error
    [warning] = result.diagnostics
    assert warning.severity == "warning" and (warning.line, warning.column) == (9, 54)
    assert "'temp_cc' is not among the known fields" in warning.message and warning.hint == "did you mean 'temp_c'?"


@pytest.mark.parametrize("name", ["temp_c", "pressure", "_meta"])
def test_a_field_unlike_any_known_one_is_no_warning(name):
    assert validate_text("t.yaml", TYPO % name, env={}).diagnostics == []


def test_the_warning_is_printed_and_validate_still_exits_0(tmp_path, capsys):
    path = tmp_path / "t.yaml"
    path.write_text(TYPO % "temp_cc")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr()
    assert "warning: field 'temp_cc'" in out.out + out.err


@pytest.mark.parametrize("value", ["0", "1025", "100000", "x", "1.5"])
def test_worker_and_process_counts_are_bounded(value, tmp_path, capsys):
    path = tmp_path / "t.yaml"
    path.write_text(TYPO % "temp_c")
    for argv in (["run", str(path), "-w", value], ["deploy", str(path), "-p", value]):
        assert main(argv) == 2
        assert ("between 1 and 1024" if value.isdigit() else "not a whole number") in capsys.readouterr().err


def test_a_file_source_that_is_no_regular_file_says_so(tmp_path):
    with pytest.raises(ConnectorError, match="'/dev/zero' is not a regular file or a directory"):
        find_files("/dev/zero")
    with pytest.raises(ConnectorError, match="does not exist"):
        find_files(str(tmp_path / "missing.jsonl"))


def test_wording_an_unnamed_step_by_its_place_and_a_one_item_union_by_its_minimum():
    text = ("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsteps:\n  - filter: \"a > 1\"\n"
            "  - id: u\n    union: [s]\nsinks:\n  out: {from: u, stdout: {}}\n")
    found, _ = errors(text)
    assert found == [(6, "step #1 is missing required option 'id'"), (8, "'union' needs at least 2 items, not 1")]


@pytest.mark.parametrize("sink, expected", [
    ("dead_letter: {file: {}}", (10, "the dead-letter file sink is missing required option 'path'")),
    ("dead_letter: {duckdb: {path: x.duckdb}}",
     (10, "the dead-letter duckdb sink needs one of the options table or tables")),
    ("dead_letter: {}", (10, "'dead_letter' has no connector")),
])
def test_wording_of_the_dead_letter_sink(sink, expected):
    text = ("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsteps:\n  - id: f\n    filter: \"a > 1\"\n"
            f"sinks:\n  out: {{from: f, stdout: {{}}}}\n{sink}\n")
    assert errors(text)[0] == [expected]


def test_wording_of_options_of_which_a_connector_takes_one():
    text = ("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsinks:\n"
            "  a: {from: s, duckdb: {path: x.duckdb}}\n  b: {from: s, duckdb: {path: x.duckdb, table: t,\n"
            "                          tables: {t: {key: [a], columns: {a: int}}}}}\n")
    assert errors(text)[0] == [(6, "duckdb sink 'a' needs one of the options table or tables"),
                               (8, "duckdb sink 'b' takes only one of the options table, tables")]


@pytest.mark.parametrize("op", ["route", "branch"])
@pytest.mark.parametrize("condition, message", [
    ("null", "the 'when' of output 'big' is always null: it never holds"),
    ("if(true, null, null)", "the 'when' of output 'big' is always null: it never holds"),
    ("amount", "the 'when' of output 'big' must be a condition (bool), got decimal(10,2): it would never hold"),
])
def test_a_route_or_branch_condition_that_never_holds_is_an_error(op, condition, message):
    text = ("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsteps:\n  - id: c\n"
            "    cast: {fields: {amount: \"decimal(10,2)\"}}\n  - id: r\n"
            f"    {op}: {{when: {{big: \"{condition}\", small: \"amount < 1\"}}}}\n"
            "sinks:\n  out: {from: r.small, stdout: {}}\n")
    assert errors(text)[0] == [(9, message)]


@pytest.mark.parametrize("connector", ["duckdb: {path: x.duckdb", "postgres: {dsn: \"postgresql://u@h/d\""])
def test_views_on_a_single_table_sink_are_a_validate_error_not_an_internal_one(connector):
    # 'views' is declared for both forms; only the several-table sink makes views (a run was exit 4)
    text = ("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsinks:\n"
            f"  out: {{from: s, {connector}, table: t, columns: {{a: int}}, views: {{v: \"SELECT 1\"}}}}}}\n")
    assert errors(text)[0] == [(6, "'views' needs 'tables': a sink writing one 'table' makes no views")]


@pytest.mark.parametrize("connector", ["duckdb: {path: x.duckdb", "postgres: {dsn: \"postgresql://u@h/d\""])
@pytest.mark.parametrize("option", ["key: [a]", "columns: {a: int}", "mode: upsert"])
def test_a_single_table_option_beside_tables_is_a_validate_error_not_an_internal_one(connector, option):
    # found by the fuzzer's graft mutation: 'key: [...]' beside 'tables' validated, then the run was exit 4
    text = ("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsinks:\n"
            f"  out: {{from: s, {connector}, tables: {{t: {{key: [a], columns: {{a: int}}}}}}, {option}}}}}\n")
    name = option.split(":")[0]
    message = (f"'{name}' belongs to a sink writing one 'table'; "
               "with 'tables' each table declares its own key and columns")
    assert errors(text)[0] == [(6, message)]
