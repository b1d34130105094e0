"""Row changes into several PostgreSQL tables (tests/services/postgres.py's server): one
transaction per batch, the source-position rule of the DuckDB Fast Storage, views."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalog import component
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import Unwritable
from engine.connectors.postgres_tables import postgres_sink
from engine.errors import ConfigError
from pg import execute, open_part, query
from test_duckdb_positions import _CHANGE, _events, hu

TABLES = {
    "transport_order": {"key": ["id"], "columns": {"id": "int", "status": "str", "kg": "decimal(10,3)"}},
    "note": {"key": ["id"], "columns": {"id": "int", "order_id": "int", "text": "str"}},
    "handling_unit": {"key": ["id"], "columns": {"id": "str", "order_id": "str", "status": "str"}},
    "leg_order": {"key": ["leg_id", "order_id"], "columns": {"leg_id": "str", "order_id": "str", "units": "int"}},
}


def writer(dsn, schema, views=None, tables=TABLES):
    return open_part(postgres_sink(dsn=dsn, schema=schema, tables=tables, views=views, reconnect="5s"))


def units(dsn, schema):
    return query(dsn, schema, "SELECT id, order_id, status FROM handling_unit ORDER BY id")


def test_upserts_and_deletes_across_tables_with_the_last_change_winning(postgres_dsn, postgres_schema):
    part = writer(postgres_dsn, postgres_schema)
    part.write_batch([[
        {"table": "transport_order", "op": "c", "after": {"id": 1, "status": "NEW", "kg": Decimal("1.5")}},
        {"table": "note", "op": "c", "after": {"id": 10, "order_id": 1, "text": "a"}},
        {"table": "note", "op": "c", "after": {"id": 11, "order_id": 1, "text": "b"}},
        {"table": "transport_order", "op": "u", "after": {"id": 1, "status": "PLANNED", "kg": Decimal("1.5")}},
    ]])
    part.write_batch([[
        {"table": "note", "op": "d", "before": {"id": 10, "order_id": 1, "text": "a"}},
        {"table": "note", "op": "u", "after": {"id": 11, "order_id": 1, "text": "b2"}},
    ]])
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT * FROM transport_order") == [(1, "PLANNED", Decimal("1.500"))]
    assert query(postgres_dsn, postgres_schema, "SELECT * FROM note ORDER BY id") == [(11, 1, "b2")]


def test_a_failing_batch_leaves_every_table_untouched(postgres_dsn, postgres_schema):
    part = writer(postgres_dsn, postgres_schema)
    part.write_batch([[{"table": "note", "op": "c", "after": {"id": 1, "order_id": 1, "text": "keep"}}]])
    execute(postgres_dsn, postgres_schema,  # a rule only the database knows, added between batches
            "ALTER TABLE transport_order ADD CONSTRAINT positive CHECK (kg > 0)")
    with pytest.raises(ConnectorError, match=r"writing a batch of 2 row changes \(nothing written\) failed: .*positive"):
        part.write_batch([[
            {"table": "note", "op": "d", "before": {"id": 1}},
            {"table": "transport_order", "op": "c", "after": {"id": 2, "status": "NEW", "kg": "-1"}},
        ]])
    part.write_batch([[{"table": "note", "op": "c", "after": {"id": 2, "order_id": 1, "text": "next"}}]])
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT id, text FROM note ORDER BY id") == [(1, "keep"), (2, "next")]
    assert query(postgres_dsn, postgres_schema, "SELECT count(*) FROM transport_order") == [(0,)]


def test_changes_for_undeclared_tables_are_refused():
    encode = postgres_sink(tables=TABLES).encoder()
    with pytest.raises(Unwritable, match="table 'trip', which is not among the declared tables"):
        encode({"table": "trip", "op": "c", "after": {"id": 1}})


def test_an_older_upsert_after_a_newer_one_or_a_newer_delete_is_ignored(postgres_dsn, postgres_schema):
    part = writer(postgres_dsn, postgres_schema)
    part.write_batch([[hu("u", 200, 0, order="B", status="MOVED")]])  # chunk of order B first
    part.write_batch([[hu("u", 100, 3, order="A", status="LOADED")]])  # chunk of order A later
    assert units(postgres_dsn, postgres_schema) == [("X", "B", "MOVED")]
    part.write_batch([[hu("d", 300, 1)]])
    part.write_batch([[hu("u", 250, 0, status="STALE")]])  # older than the delete: the tombstone keeps it out
    part.close()
    assert units(postgres_dsn, postgres_schema) == []
    assert query(postgres_dsn, postgres_schema, "SELECT id, _lsn, _seq, _deleted FROM _positions_handling_unit") == [
        ("X", Decimal(300), 1, True)]


def test_lsns_beyond_bigint_and_in_postgresql_text_form_compare_as_numbers(postgres_dsn, postgres_schema):
    part = writer(postgres_dsn, postgres_schema)
    part.write_batch([[hu("u", 2 ** 100, 0, status="HUGE"), hu("u", "16/B374D848", 0, id="Y", status="PG")]])
    part.write_batch([[hu("u", 2 ** 99, 5, status="OLDER"), hu("u", 0x16B374D847, 0, id="Y", status="OLDER")]])
    part.close()
    assert units(postgres_dsn, postgres_schema) == [("X", "A", "HUGE"), ("Y", "A", "PG")]


def test_the_same_batch_replayed_leaves_the_same_state(postgres_dsn, postgres_schema):
    batch = [hu("c", 100, 0, id="X"), hu("c", 100, 1, id="Y"), hu("u", 150, 0, id="X", status="LOADED"),
             hu("d", 160, 2, id="Y")]
    part = writer(postgres_dsn, postgres_schema)
    part.write_batch([batch])
    positions = "SELECT * FROM _positions_handling_unit ORDER BY id"
    first = (units(postgres_dsn, postgres_schema), query(postgres_dsn, postgres_schema, positions))
    part.write_batch([batch])
    part.write_batch([list(reversed(batch))])
    part.close()
    assert (units(postgres_dsn, postgres_schema), query(postgres_dsn, postgres_schema, positions)) == first
    assert first[0] == [("X", "A", "LOADED")]


def test_a_key_change_deletes_the_old_row_and_an_older_write_of_it_stays_out(postgres_dsn, postgres_schema):
    part = writer(postgres_dsn, postgres_schema)
    part.write_batch([[{"table": "leg_order", "op": "c", "after": {"leg_id": "L1", "order_id": "A", "units": 2},
                        "lsn": 100, "seq": 0}]])
    part.write_batch([[{"table": "leg_order", "op": "u", "before": {"leg_id": "L1", "order_id": "A", "units": 2},
                        "after": {"leg_id": "L1", "order_id": "B", "units": 2}, "lsn": 200, "seq": 0}]])
    part.write_batch([[{"table": "leg_order", "op": "u", "before": None,
                        "after": {"leg_id": "L1", "order_id": "A", "units": 5}, "lsn": 150, "seq": 0}]])
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT * FROM leg_order") == [("L1", "B", 2)]


def test_changes_without_a_readable_position_apply_in_arrival_order(postgres_dsn, postgres_schema):
    part = writer(postgres_dsn, postgres_schema)
    part.write_batch([[hu("u", 500, 0, status="POSITIONED")]])
    part.write_batch([[hu("u", None, None, status="NO-POSITION")]])
    assert units(postgres_dsn, postgres_schema) == [("X", "A", "NO-POSITION")]
    part.write_batch([[hu("u", 10, 0, status="LOW")]])
    part.write_batch([[hu("u", True, 0, status="BOOL"), hu("u", "not-an-lsn", 0, id="Y")]])
    part.close()
    assert units(postgres_dsn, postgres_schema) == [("X", "A", "BOOL"), ("Y", "A", "NEW")]


def test_views_are_created_after_the_tables_and_replaced_at_the_next_start(postgres_dsn, postgres_schema):
    views = {"order_notes": "SELECT o.id, o.status, count(n.id) AS notes FROM transport_order o "
                            "LEFT JOIN note n ON n.order_id = o.id GROUP BY o.id, o.status"}
    part = writer(postgres_dsn, postgres_schema, views)
    part.write_batch([[{"table": "transport_order", "op": "c", "after": {"id": 1, "status": "NEW"}},
                       {"table": "note", "op": "c", "after": {"id": 5, "order_id": 1, "text": "x"}}]])
    part.close()
    assert query(postgres_dsn, postgres_schema, "SELECT * FROM order_notes") == [(1, "NEW", 1)]
    changed = {"order_notes": "SELECT o.id FROM transport_order o"}  # fewer columns: dropped and created again
    writer(postgres_dsn, postgres_schema, changed).close()
    assert query(postgres_dsn, postgres_schema, "SELECT * FROM order_notes") == [(1,)]


def test_a_view_postgresql_refuses_is_one_clear_line_naming_it(postgres_dsn, postgres_schema):
    with pytest.raises(ConnectorError) as info:
        writer(postgres_dsn, postgres_schema, {"broken": "SELECT no_such_column FROM note"})
    assert str(info.value).startswith("postgres sink: view 'broken': column \"no_such_column\" does not exist")


def test_views_and_dsn_are_checked_when_the_topology_is_validated():
    check = component("sink", "postgres").check_options
    with pytest.raises(ConfigError, match="exactly one SELECT statement"):
        check({"tables": TABLES, "views": {"v": "SELECT 1; DROP TABLE note"}})
    with pytest.raises(ConfigError, match="not a libpq connection string"):
        check({"dsn": "host=db dbname", "tables": TABLES})
    check({"dsn": "host=db dbname=fast", "tables": TABLES, "views": {"v": "SELECT id FROM note"}})


def test_an_existing_table_or_positions_table_with_other_columns_is_a_clear_error(postgres_dsn, postgres_schema):
    execute(postgres_dsn, postgres_schema, "CREATE TABLE note (id BIGINT PRIMARY KEY, order_id BIGINT, body TEXT)")
    with pytest.raises(ConnectorError, match=r"^postgres sink: table 'note' exists with other columns: "
                                             r"missing column 'text' \(text\); extra column 'body' \(text\)$"):
        writer(postgres_dsn, postgres_schema)
    execute(postgres_dsn, postgres_schema, "DROP TABLE note",
            "CREATE TABLE _positions_note (id BIGINT PRIMARY KEY, _lsn BIGINT, _seq BIGINT, _deleted BOOLEAN)")
    with pytest.raises(ConnectorError, match=r"table '_positions_note' .* column '_lsn' is bigint, not numeric\(39,0\)"):
        writer(postgres_dsn, postgres_schema)


def test_reserved_names_are_refused():
    with pytest.raises(ConnectorError, match="positions table"):
        postgres_sink(tables={"t": TABLES["note"], "_positions_t": TABLES["note"]})
    with pytest.raises(ConnectorError, match="may not be called '_lsn'"):
        postgres_sink(tables={"t": {"key": ["_lsn"], "columns": {"_lsn": "int"}}})
    with pytest.raises(ConnectorError, match="column name '__vf_force' is reserved"):
        postgres_sink(tables={"t": {"key": ["id"], "columns": {"id": "int", "__vf_force": "bool"}}})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(_CHANGE, min_size=1, max_size=12), data=st.data())
def test_any_order_and_batching_gives_the_state_of_position_order(postgres_dsn, raw, data):
    lsns = data.draw(st.lists(st.integers(0, 300), min_size=len(raw), max_size=len(raw), unique=True))
    events = _events(raw, lsns)
    state = {}  # the source's history: every change applied in position order
    for event in sorted(events, key=lambda e: (e["lsn"], e["seq"])):
        if event["op"] == "d" or event["before"] is not None:
            state.pop(event["before"]["id"], None)
        if event["op"] != "d":
            after = event["after"]
            state[after["id"]] = (after["id"], after["order_id"], after["status"])
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4)))
    schema = "h_" + uuid.uuid4().hex[:12]
    part = writer(postgres_dsn, schema)
    try:
        start = 0
        for cut in cuts + [len(events)]:
            chunks = data.draw(st.integers(1, 3))  # a write_batch call carries several chunks
            batch = shuffled[start:cut]
            part.write_batch([batch[i::chunks] for i in range(chunks)])
            start = cut
        part.close()
        assert units(postgres_dsn, schema) == sorted(state.values())
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.parametrize("kind", ["postgres", "duckdb"])
def test_reserved_names_are_validate_errors_of_both_table_sinks(kind):
    check = component("sink", kind).check_options
    base = {"path": "x.duckdb"} if kind == "duckdb" else {}
    for tables, message, where in [
            ({"t": TABLES["note"], "_positions_t": TABLES["note"]}, "is the positions table of 't'", ("tables",)),
            ({"t": {"key": ["_seq"], "columns": {"_seq": "int"}}}, "may not be called '_seq'", ("tables", "t")),
            ({"t": {"key": ["id"], "columns": {"id": "int", "__vf_index": "int"}}}, "is reserved", ("tables", "t"))]:
        with pytest.raises(ConfigError, match=message) as info:
            check({**base, "tables": tables})
        assert tuple(info.value.path) == where and not str(info.value).startswith(kind)  # a table's own: at it
        assert "rename it" in (info.value.hint or "")
    check({**base, "tables": TABLES})
