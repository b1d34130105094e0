"""Values and names the DuckDB sink's authors never fed it: each is written, or dead-letters its
own event naming the column, and never fails its batch; keys that one database value spells
in several ways are one key of a batch, the last event winning (docs/connectors.md, DuckDB)."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from connector_flows import Encoding, encode_each

from engine.connectors.duckdb import DuckDBSink
from engine.connectors.duckdb_tables import DuckDBTablesSink
from engine.connectors.errors import ConnectorError, Unwritable


def _written(tmp_path, columns, events, key=None):
    """The rows of ``t`` after one batch of ``events`` (those the encoder refuses left out), and the refusals."""
    sink = DuckDBSink(str(tmp_path / "out.duckdb"), "t", columns, mode="upsert" if key else "append", key=key)
    part = Encoding(sink, sink.build_part("sink", sink.path, None))
    kept, refused = encode_each(part, events)
    try:
        part.write_batch([kept])
        return part.part._con.execute("SELECT * FROM t ORDER BY 1").fetchall(), refused
    finally:
        part.close()


def test_integers_in_a_float_column_are_doubles_and_one_beyond_doubles_is_a_dead_letter(tmp_path):
    rows, refused = _written(tmp_path, {"id": "int", "f": "float"},
                             [{"id": 1, "f": 2 ** 64}, {"id": 2, "f": 10 ** 400}, {"id": 3, "f": Decimal("1E+400")},
                              {"id": 4, "f": 7}])
    assert rows == [(1, float(2 ** 64)), (4, 7.0)]
    assert refused == [("table 't', column 'f': 100000000000000000000000000000000000000000000000000000000... is "
                        "beyond DOUBLE's range"), "table 't', column 'f': Decimal('1E+400') is beyond DOUBLE's range"]


def test_a_decimal_in_exponent_form_too_small_for_the_scale_is_zero_not_a_failed_batch(tmp_path):
    rows, refused = _written(tmp_path, {"id": "int", "d": "decimal(10,3)"},
                             [{"id": 1, "d": Decimal("1E-999999999")}, {"id": 2, "d": "2.5"}])
    assert (rows, refused) == ([(1, Decimal("0.000")), (2, Decimal("2.500"))], [])


@pytest.mark.parametrize("spellings", [[Decimal("1.5"), "1.50", Decimal("1.504")], [1.5, Decimal("1.499999")]])
def test_decimal_keys_spelled_differently_are_one_key_and_the_last_event_wins(tmp_path, spellings):
    events = [{"k": k, "v": i} for i, k in enumerate(spellings)]
    rows, _ = _written(tmp_path, {"k": "decimal(10,2)", "v": "int"}, events, key=["k"])
    assert rows == [(Decimal("1.50"), len(spellings) - 1)]


def test_a_naive_and_an_aware_timestamp_of_one_instant_are_one_key(tmp_path):
    events = [{"k": datetime(2024, 1, 1), "v": 1}, {"k": datetime(2024, 1, 1, tzinfo=timezone.utc), "v": 2},
              {"k": datetime(2024, 1, 1), "v": 3}]
    rows, _ = _written(tmp_path, {"k": "timestamp", "v": "int"}, events, key=["k"])
    assert rows == [(datetime(2024, 1, 1, tzinfo=timezone.utc), 3)]


def test_nan_keys_of_one_batch_are_one_key(tmp_path):
    rows, _ = _written(tmp_path, {"k": "float", "v": "int"},
                       [{"k": float("nan"), "v": 1}, {"k": float("nan"), "v": 2}], key=["k"])
    assert [v for _, v in rows] == [2]


def test_an_integer_too_long_to_print_is_a_dead_letter_naming_its_column(tmp_path):
    sink = DuckDBSink(str(tmp_path / "out.duckdb"), "t", {"id": "int", "n": "decimal(10,2)"})
    encode = sink.encoder()
    with pytest.raises(Unwritable, match=r"column 'id': \(an integer of over 4,300 digits\) is beyond BIGINT"):
        encode({"id": 10 ** 5000})
    with pytest.raises(Unwritable, match=r"column 'n': expected a decimal number, got list \(too long to show\)"):
        encode({"id": 1, "n": [10 ** 5000]})


def test_column_names_equal_but_for_case_stop_the_run_with_one_line(tmp_path):
    sink = DuckDBSink(str(tmp_path / "one.duckdb"), "t", {"a": "int", "A": "str"})
    with pytest.raises(ConnectorError, match=r"^duckdb sink: cannot create table 't': .*\"A\" already exists"):
        sink.build_part("sink", sink.path, None)
    tables = DuckDBTablesSink(str(tmp_path / "many.duckdb"),
                              {"t": {"key": ["id"], "columns": {"id": "int", "ID": "str"}}})
    with pytest.raises(ConnectorError, match=r"^duckdb sink: cannot create table 't': "):  # not "cannot create a view"
        tables.build_part("sink", tables.path, None)


@pytest.mark.parametrize("form", ["table", "tables"])
@pytest.mark.parametrize("sink", ["duckdb", "postgres"])
def test_a_json_key_column_is_refused_when_the_topology_is_validated(tmp_path, sink, form):
    """Values equal as JSON may differ as text ({"a":1,"b":2} and {"b":2,"a":1}, 1 and 1.0): keyed
    by their text, one batch kept both, and PostgreSQL's upsert failed it (the flow stopped)."""
    from engine.binding import validate_text

    where = "path: db.duckdb" if sink == "duckdb" else "dsn: ''"
    table = ("table: t, mode: upsert, key: [k], columns: {k: json, v: str}" if form == "table"
             else "tables: {t: {key: [k], columns: {k: json, v: str}}}")
    text = (f"version: 1\nname: j\nsources: {{s: {{file: {{path: in.jsonl}}}}}}\n"
            f"sinks: {{o: {{from: s, {sink}: {{{where}, {table}}}}}}}\n")
    result = validate_text(str(tmp_path / "t.yaml"), text, env={})
    messages = [d.message for d in result.diagnostics if d.severity == "error"]
    assert any("key column 'k' is of type json" in m for m in messages), messages
    fixed = validate_text(str(tmp_path / "t.yaml"), text.replace("k: json", "k: str"), env={})
    assert not [d.message for d in fixed.diagnostics if d.severity == "error" and "json" in d.message]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"])
def test_a_dead_letter_table_keyed_on_a_json_column_is_refused_by_validate(tmp_path, sink):
    """The dead-letter sink's columns are given (step, error, origin, time, event): its key was not
    checked at validate, and the run stopped when the sink was built."""
    from engine.binding import validate_text

    where = "path: db.duckdb" if sink == "duckdb" else "dsn: ''"
    line = f"dead_letter: {{{sink}: {{{where}, table: dl, mode: upsert, key: [event]}}}}"
    text = (f"version: 1\nname: j\nsources: {{s: {{file: {{path: in.jsonl}}}}}}\n"
            f"sinks: {{o: {{from: s, stdout: {{}}}}}}\n{line}\n")
    result = validate_text(str(tmp_path / "t.yaml"), text, env={})
    found = [(d.line, d.column, d.message) for d in result.diagnostics if d.severity == "error"]
    assert [(f[0], f[1]) for f in found] == [(5, line.index("event]") + 1)], found
    assert "key column 'event' is of type json" in found[0][2]
    fixed = validate_text(str(tmp_path / "t.yaml"), text.replace("key: [event]", "key: [origin]"), env={})
    assert [d.message for d in fixed.diagnostics if d.severity == "error"] == []


@pytest.mark.parametrize("sink", ["duckdb", "postgres"])
def test_a_json_key_column_of_row_changes_is_one_error_at_its_key(tmp_path, sink):
    """One mistake, one error (validate made a second one from the sink's refusal when built): both
    places apply one rule, engine/table_rules.py, in the same words."""
    from engine.binding import validate_text
    from engine.connectors.duckdb_tables import DuckDBTablesSink
    from engine.connectors.postgres_tables import postgres_sink

    where = "path: db.duckdb" if sink == "duckdb" else "dsn: ''"
    table = "t: {key: [id, k], columns: {id: int, k: json}}"
    line = f"sinks: {{o: {{from: s, {sink}: {{{where}, tables: {{{table}}}}}}}}}"
    text = f"version: 1\nname: j\nsources: {{s: {{file: {{path: in.jsonl}}}}}}\n{line}\n"
    result = validate_text(str(tmp_path / "t.yaml"), text, env={})
    found = [(d.line, d.column, d.message, d.hint) for d in result.diagnostics if d.severity == "error"]
    words = "key column 'k' is of type json; a key is compared as its text, which equal JSON values need not share"
    assert found == [(4, line.index("k]") + 1, words, "key on a str column (an id) instead")], found
    tables = {"t": {"key": ["id", "k"], "columns": {"id": "int", "k": "json"}}}
    with pytest.raises(ConnectorError) as refused:
        DuckDBTablesSink("x.duckdb", tables) if sink == "duckdb" else postgres_sink("", None, tables=tables)
    assert str(refused.value) == f"{sink} sink: table 't': {words}: key on a str column (an id) instead"


@pytest.mark.parametrize("sink", ["duckdb", "postgres"])
def test_column_names_equal_but_for_case_are_refused_by_validate_at_their_line(tmp_path, sink):
    """DuckDB's names are case-insensitive (the table is not made: above) and the SQL both sinks share
    matches names regardless of case (a PostgreSQL upsert keyed on id never updated Id): declared or
    inferred from the fields, refused by validate. Tables too, for DuckDB (two would be one)."""
    from engine.binding import validate_text

    def where(name):
        return f"path: {name}.duckdb" if sink == "duckdb" else "dsn: ''"

    lines = ["version: 1", "name: c", "sources: {s: {file: {path: in.jsonl}}}",
             "steps: [{id: m, map: {fields: {Id: '1', id: '2', ok: '3'}}}]", "sinks:",
             f"  one: {{from: s, {sink}: {{{where('one')}, table: a, columns: {{Id: int, x: str, id: int}}}}}}",
             (f"  many: {{from: s, {sink}: {{{where('many')}, tables: {{b: {{key: [id], columns: "
              "{id: int, ID: str}}}}}"),
             f"  inferred: {{from: m, {sink}: {{{where('inferred')}, table: c}}}}",
             (f"  twins: {{from: s, {sink}: {{{where('twins')}, tables: {{T: {{key: [a], columns: {{a: int}}}}, "
              "t: {key: [a], columns: {a: int}}}}}"),
             f"dead_letter: {{{sink}: {{{where('dead')}, table: d, columns: {{error: str, ERROR: str}}}}}}"]
    result = validate_text(str(tmp_path / "t.yaml"), "\n".join(lines) + "\n", env={})
    found = [(d.line, d.column, d.message) for d in result.diagnostics if d.severity == "error"]

    def at(line, text):  # the line and column of the value after ``text`` (the second name's type)
        return line + 1, lines[line].rindex(text) + len(text) + 1

    def said(what, a, b, whose=""):
        return (f"{what}s '{a}' and '{b}'{whose} differ only by case, which the sink's database or SQL does not "
                "tell apart")

    expected = [(*at(5, "id: "), said("column", "Id", "id")),
                (*at(6, "ID: "), "table 'b': " + said("column", "id", "ID")),
                (*at(7, f"{sink}: "), said("column", "Id", "id", " (the fields of 'm')")),
                *([(9, lines[8].rindex("t: ") + 1, said("table", "T", "t"))] if sink == "duckdb" else []),
                (*at(9, "ERROR: "), said("column", "error", "ERROR"))]
    assert sorted(found) == sorted(expected), found
