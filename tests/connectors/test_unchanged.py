"""Unchanged TOAST values (engine/connectors/unchanged.py) in the DuckDB sink's upserts: a column
whose value is Debezium's placeholder keeps the value the table holds; a new row gets NULL there.
The PostgreSQL sink's are tests/connectors/test_postgres_unchanged.py."""

from __future__ import annotations

import json

import duckdb
import pytest
from connector_flows import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors.duckdb import DuckDBSink
from engine.connectors.duckdb_tables import DuckDBTablesSink
from engine.connectors.jsonl import encode_value
from engine.connectors.postgres import PostgresSink
from engine.connectors.unchanged import NONE, Unchanged, parts_to_write
from engine.runtime.runner import RunOptions
from engine.unavailable import UNAVAILABLE, UNAVAILABLE_ARRAYS, UNAVAILABLE_JSON

P = UNAVAILABLE
TEXT_ARRAY, INT_ARRAY = UNAVAILABLE_ARRAYS  # ["__debezium_unavailable_value"], [95, 95, 100, ...]
# note: text; attrs: json/jsonb; tags: a text[] (or json[]) column; nums: an int[] / bigint[] / date[] column
COLUMNS = {"id": "int", "note": "str", "attrs": "json", "tags": "json", "nums": "json", "n": "int"}
FULL = {"id": 1, "note": "long text", "attrs": {"a": 1}, "tags": ["x", "y"], "nums": [1, 2], "n": 1}
KEEPING = {"id": 1, "note": P, "attrs": P, "tags": TEXT_ARRAY, "nums": INT_ARRAY, "n": 2}
SELECT = "SELECT id, note, CAST(attrs AS VARCHAR), CAST(tags AS VARCHAR), CAST(nums AS VARCHAR), n FROM t ORDER BY id"


def table_sink(path, columns=COLUMNS, mode="upsert"):
    sink = DuckDBSink(str(path), "t", columns, mode=mode, key=["id"] if mode == "upsert" else None)
    return Encoding(sink, sink.build_part("sink", sink.path, None))


def stored(path, sql=SELECT):
    with duckdb.connect(str(path), read_only=True) as con:
        return [tuple(json.loads(v) if isinstance(v, str) and i in (2, 3, 4) else v for i, v in enumerate(row))
                for row in con.execute(sql).fetchall()]


def row(event):
    return tuple(event.get(c) for c in COLUMNS)


def write(path, *batches, **options):
    part = table_sink(path, **options)
    for batch in batches:
        part.write_batch([batch])
    part.close()
    return stored(path)


def test_the_placeholders_json_texts_are_what_both_table_sinks_encode():
    for value, text in zip([P, TEXT_ARRAY, INT_ARRAY], UNAVAILABLE_JSON, strict=True):
        assert encode_value(value).decode() == text
        for sink in (DuckDBSink("x.duckdb", "t", {"id": "int", "j": "json"}),
                     PostgresSink("t", columns={"id": "int", "j": "json"})):
            assert sink.encoder()({"id": 1, "j": value}) == (1, text)


def test_an_update_with_placeholders_keeps_the_stored_text_json_and_array_values(tmp_path):
    got = write(tmp_path / "t.duckdb", [FULL, {**FULL, "id": 2}], [KEEPING, {**FULL, "id": 2, "note": "new", "n": 5}])
    assert got == [row({**FULL, "n": 2}), row({**FULL, "id": 2, "note": "new", "n": 5})]


def test_each_row_keeps_its_own_columns(tmp_path):
    first = [{**FULL, "id": i} for i in range(1, 5)]
    second = [{"id": 1, "note": P, "attrs": {"b": 2}, "tags": None, "nums": [3], "n": 2},
              {"id": 2, "note": "two", "attrs": P, "tags": ["z"], "nums": INT_ARRAY, "n": 2},
              {"id": 3, "note": P, "attrs": P, "tags": TEXT_ARRAY, "nums": INT_ARRAY, "n": None},
              {"id": 4, "note": "four", "attrs": None, "tags": [], "nums": [], "n": 4}]
    assert write(tmp_path / "t.duckdb", first, second) == [
        (1, "long text", {"b": 2}, None, [3], 2), (2, "two", {"a": 1}, ["z"], [1, 2], 2),
        (3, "long text", {"a": 1}, ["x", "y"], [1, 2], None), (4, "four", None, [], [], 4)]


def test_a_row_inserted_with_placeholders_gets_null_there(tmp_path):
    assert write(tmp_path / "t.duckdb", [KEEPING]) == [(1, None, None, None, None, 2)]
    # every non-key column kept: the stored row stays as it is
    part = table_sink(tmp_path / "k.duckdb", columns={"id": "int", "note": "str"})
    part.write_batch([[{"id": 1, "note": "a"}]])
    part.write_batch([[{"id": 1, "note": P}, {"id": 2, "note": P}]])
    part.close()
    assert stored(tmp_path / "k.duckdb", "SELECT * FROM t ORDER BY id") == [(1, "a"), (2, None)]


def test_two_rows_of_one_key_in_one_batch_end_as_the_later_says_keeping_the_earlier_values(tmp_path):
    db = tmp_path / "t.duckdb"
    # inserted and updated in one batch: the placeholder keeps the earlier row's value
    assert write(db, [FULL, KEEPING]) == [row({**FULL, "n": 2})]
    # stored, then three changes: the last placeholder keeps the middle row's note, the first's attrs
    assert write(db, [{**FULL, "note": "a", "attrs": {"k": 1}, "n": 3}, {**KEEPING, "note": "b", "n": 4},
                      {**KEEPING, "n": 5}]) == [row({**FULL, "note": "b", "attrs": {"k": 1}, "n": 5})]
    # a placeholder row, then a full one: the full one
    assert write(db, [{**KEEPING, "n": 6}, {**FULL, "note": "c", "n": 7}]) == [row({**FULL, "note": "c", "n": 7})]
    # a NULL written, then a placeholder: NULL stays
    assert write(db, [{**FULL, "note": None, "n": 8}, {**KEEPING, "n": 9}]) == [row({**FULL, "note": None, "n": 9})]


def test_a_batch_without_placeholders_is_one_part_as_before_and_overwrites_everything(tmp_path):
    # text holding the placeholder, JSON text of it, or arrays like the placeholder's are values
    events = [{**FULL, "id": 2, "note": "__debezium_unavailable_value "},
              {**FULL, "id": 3, "attrs": json.dumps(P), "tags": [P, P], "nums": INT_ARRAY[:-1]}]
    sink = DuckDBSink("x", "t", COLUMNS, "upsert", ["id"])
    unchanged, encode = Unchanged(sink.column_specs, ["id"]), sink.encoder()
    rows = [encode(e) for e in [FULL, *events]]
    parts, count = parts_to_write([rows[:1], rows[1:]], [0], unchanged)
    assert (parts, count) == ([(NONE, rows)], 3)  # the batch's rows, one part: the upsert of every column
    assert parts_to_write([[]], [0], unchanged) == ([], 0)
    # a placeholder in the key is a value
    key = Unchanged(DuckDBSink("x", "t", {"note": "str", "n": "int"}, "upsert", ["note"]).column_specs, ["note"])
    assert parts_to_write([[(P, 1)]], [0], key) == ([(NONE, [(P, 1)])], 1)
    got = write(tmp_path / "t.duckdb", [FULL, {**FULL, "id": 2}, {**FULL, "id": 3}], [{"id": 1, "n": 3}, *events])
    assert got == [(1, None, None, None, None, 3), row(events[0]), row(events[1])]


def test_append_mode_writes_the_placeholder_as_it_came_and_upsert_does_not(tmp_path):
    assert write(tmp_path / "a.duckdb", [KEEPING], mode="append") == [row(KEEPING)]
    assert write(tmp_path / "u.duckdb", [FULL], [KEEPING]) == [row({**FULL, "n": 2})]


# --- the tables form (row changes ordered by source position) ------------------------------------

TABLES = {"t": {"key": ["id"], "columns": COLUMNS}}


def change(after, lsn, op="u"):
    if op == "d":
        return {"table": "t", "op": "d", "before": {"id": after["id"]}, "lsn": lsn, "seq": 0}
    return {"table": "t", "op": op, "after": after, "lsn": lsn, "seq": 0}


def write_changes(path, *batches):
    sink = DuckDBTablesSink(str(path), TABLES)
    part = Encoding(sink, sink.build_part("s", "p", None))
    for batch in batches:
        part.write_batch([batch])
    part.close()
    return stored(path)


def test_row_changes_with_placeholders_keep_the_stored_values(tmp_path):
    got = write_changes(tmp_path / "f.duckdb", [change(FULL, 1, "c"), change({**FULL, "id": 2}, 2, "c")],
                        [change(KEEPING, 3), change({**KEEPING, "id": 3}, 4, "c")])
    assert got == [row({**FULL, "n": 2}), row({**FULL, "id": 2}), (3, None, None, None, None, 2)]


def test_row_changes_of_one_key_in_one_batch_apply_one_after_the_other(tmp_path):
    db = tmp_path / "f.duckdb"
    assert write_changes(db, [change(FULL, 1, "c"), change(KEEPING, 2), change({**KEEPING, "note": "b", "n": 3}, 3)]) \
        == [row({**FULL, "note": "b", "n": 3})]
    # deleted, then inserted again with a placeholder: NULL, not the deleted row's value
    assert write_changes(db, [change(FULL, 4, "d"), change({**KEEPING, "n": 5}, 5, "c")]) == [
        (1, None, None, None, None, 5)]


def test_an_older_change_in_the_batch_does_not_lend_its_values_to_a_placeholder(tmp_path):
    # the table holds the row at position 5; a redelivered older change (3) comes before a newer
    # placeholder change (6) in one batch: 3 does not apply, so 6 keeps what the table holds
    db = tmp_path / "f.duckdb"
    write_changes(db, [change({**FULL, "note": "stored"}, 5, "c")])
    assert write_changes(db, [change({**FULL, "note": "older"}, 3), change(KEEPING, 6)]) == [
        row({**FULL, "note": "stored", "n": 2})]


# --- end to end: Debezium change events through the debezium step into a DuckDB table ----------

def _col(name, kind, logical=None, **extra):
    return {"type": kind, "optional": True, "field": name, **({"name": logical} if logical else {}), **extra}


_FIELDS = [_col("id", "int32"), _col("note", "string"), _col("attrs", "string", "io.debezium.data.Json", version=1),
           _col("tags", "array", items=_col("tag", "string")), _col("nums", "array", items=_col("num", "int64")),
           _col("n", "int32")]


def _debezium(op, after, lsn):
    struct = {"type": "struct", "optional": True, "fields": _FIELDS}
    return {"schema": {"type": "struct", "fields": [dict(struct, field="before"), dict(struct, field="after")]},
            "payload": {"op": op, "before": None, "after": after, "source": {"table": "t", "txId": lsn, "lsn": lsn},
                        "ts_ms": 1}}


TOPOLOGY = """\
version: 1
name: toast
sources: {{cdc: {{file: {{path: "{dir}/in.jsonl"}}}}}}
steps: [{{id: changes, debezium: {{}}}}, {{id: rows, map: {{fields: {fields}}}}}]
sinks:
  table: {{from: rows, duckdb: {{path: "{dir}/out.duckdb", table: t, mode: upsert, key: [id], columns: {columns}}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_debezium_update_events_with_unchanged_toast_values_keep_the_stored_values(flow):
    full = {"id": 1, "note": "long text", "attrs": '{"a": 1}', "tags": ["x", "y"], "nums": [1, 2], "n": 1}
    toasted = {"id": 1, "note": P, "attrs": P, "tags": [P], "nums": list(P.encode()), "n": 2}
    flow.write("in.jsonl", [_debezium("c", full, 1), _debezium("u", toasted, 2),
                            _debezium("c", {**toasted, "id": 2}, 3), _debezium("u", {**toasted, "n": 3}, 4)])
    columns = "{" + ", ".join(f"{name}: {kind}" for name, kind in COLUMNS.items()) + "}"
    fields = "{" + ", ".join(f"{name}: after.{name}" for name in COLUMNS) + "}"
    ran = flow.run(TOPOLOGY, RunOptions(workers=1), columns=columns, fields=fields)
    assert ran.dead == []
    assert stored(flow.dir / "out.duckdb") == [row({**FULL, "n": 3}), (2, None, None, None, None, 2)]


# --- Hypothesis: any upserts, any batching, against a model ---------------------------------------

TEXTS = st.sampled_from(["a", "b", None, P])
JSONS = st.sampled_from([{"x": 1}, [1, 2], "t", None, P, TEXT_ARRAY, INT_ARRAY])
EVENTS = st.lists(st.fixed_dictionaries({"id": st.integers(0, 3), "note": TEXTS, "attrs": JSONS, "tags": JSONS,
                                         "nums": JSONS, "n": st.integers(0, 9)}), min_size=1, max_size=14)
PLACEHOLDERS = [P, TEXT_ARRAY, INT_ARRAY]


def over(before, event):
    """The row of ``event`` written over ``before`` (None: no row): a placeholder keeps the value."""
    return tuple((before[i] if before else None) if value in PLACEHOLDERS else value
                 for i, value in enumerate(row(event)))


def model(events):
    """The table, as a plain dict of key -> row, after the events one by one."""
    table = {}
    for event in events:
        table[event["id"]] = over(table.get(event["id"]), event)
    return [table[k] for k in sorted(table)]


def batched(data, events):
    """The events cut into write_batch calls, each of a few chunks, in their order."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4)))
    calls, start = [], 0
    for cut in cuts + [len(events)]:
        batch, chunks = events[start:cut], data.draw(st.integers(1, 3))
        calls.append([batch[i * len(batch) // chunks:(i + 1) * len(batch) // chunks] for i in range(chunks)])
        start = cut
    return calls


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, data=st.data())
def test_any_upserts_in_any_batches_give_the_model(tmp_path_factory, events, data):
    db = tmp_path_factory.mktemp("toast") / "t.duckdb"
    calls = batched(data, events)
    part = table_sink(db)
    for call in calls:
        part.write_batch(call)
    part.close()
    assert stored(db) == model(events)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, data=st.data())
def test_row_changes_in_order_with_replays_give_the_model(tmp_path_factory, events, data):
    deletes = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    changes = [change(e, lsn, "d" if deleted else "u")
               for lsn, (e, deleted) in enumerate(zip(events, deletes, strict=True))]
    history = {}  # the source's rows, change after change
    for c in changes:
        if c["op"] == "d":
            history.pop(c["before"]["id"], None)
        else:
            history[c["after"]["id"]] = over(history.get(c["after"]["id"]), c["after"])
    # delivered in order, with earlier changes delivered again (a replay) here and there
    delivered = list(changes)
    for _ in range(data.draw(st.integers(0, 3))):
        late = data.draw(st.integers(0, len(changes) - 1))
        delivered.insert(data.draw(st.integers(late + 1, len(delivered))), changes[late])
    db = tmp_path_factory.mktemp("toast") / "f.duckdb"
    sink = DuckDBTablesSink(str(db), TABLES)
    part = Encoding(sink, sink.build_part("s", "p", None))
    for call in batched(data, delivered):
        part.write_batch(call)
    part.close()
    assert stored(db) == [history[k] for k in sorted(history)]


@pytest.mark.parametrize("kind", ["str", "json"])
def test_only_str_and_json_columns_outside_the_key_may_hold_placeholders(kind):
    # (a json key column is refused: test_duckdb_hostile_values.py; the key here is a str column)
    sink = DuckDBSink("x", "t", {"k": "str", "v": kind, "i": "int", "d": "date"}, "upsert", ["k"])
    pg = PostgresSink("t", columns={"k": "str", "v": kind, "i": "int", "d": "date"}, mode="upsert", key=["k"])
    for columns in (sink.column_specs, pg.column_specs):
        unchanged = Unchanged(columns, ["k"])
        value = P if kind == "str" else UNAVAILABLE_JSON[0]
        assert unchanged.kept((P, value, 1, None)) == {1}  # the key's placeholder text is its value: keys come whole
        assert unchanged.kept((P, "x", P, P)) == set()
