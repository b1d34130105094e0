"""Row changes into several DuckDB tables, one transaction per batch."""

from decimal import Decimal

import duckdb
import pytest

from engine.connectors.duckdb_tables import DuckDBTablesSink
from connector_flows import Encoding
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import Unwritable

TABLES = {
    "transport_order": {"key": ["id"], "columns": {"id": "int", "status": "str", "kg": "decimal(10,3)"}},
    "note": {"key": ["id"], "columns": {"id": "int", "order_id": "int", "text": "str"}},
}


def writer(tmp_path):
    sink = DuckDBTablesSink(str(tmp_path / "fast.duckdb"), TABLES)
    return Encoding(sink, sink.build_part("s", "p", None))


def rows(tmp_path, table):
    con = duckdb.connect(str(tmp_path / "fast.duckdb"))
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
    finally:
        con.close()


def test_upserts_and_deletes_across_tables_with_the_last_change_winning(tmp_path):
    part = writer(tmp_path)
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
    assert rows(tmp_path, "transport_order") == [(1, "PLANNED", Decimal("1.500"))]
    assert rows(tmp_path, "note") == [(11, 1, "b2")]


def test_a_failing_batch_leaves_every_table_untouched(tmp_path):
    part = writer(tmp_path)
    part.write_batch([[{"table": "note", "op": "c", "after": {"id": 1, "order_id": 1, "text": "keep"}}]])
    part._con.execute("DROP TABLE transport_order")  # the destination breaks between batches
    with pytest.raises(ConnectorError, match="nothing written"):
        part.write_batch([[
            {"table": "note", "op": "d", "before": {"id": 1}},
            {"table": "transport_order", "op": "c", "after": {"id": 2, "status": "NEW", "kg": "1"}},
        ]])
    part.close()
    assert rows(tmp_path, "note") == [(1, 1, "keep")]


def test_changes_for_undeclared_tables_are_refused(tmp_path):
    part = writer(tmp_path)
    with pytest.raises(Unwritable, match="table 'trip', which is not among the declared tables"):
        part.write_batch([[{"table": "trip", "op": "c", "after": {"id": 1}}]])
    part.close()
