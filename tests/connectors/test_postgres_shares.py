"""Several processes writing one PostgreSQL database at once (deploy's shares, flows started
together), against a real server: the set-up of schema, tables and views one connection at a
time, and batches of upserts and row changes taking turns under an advisory lock, so the
source-position rule holds across writers (engine/connectors/postgres_connection.py)."""

from __future__ import annotations

import threading
import time

import psycopg
from pg import open_part, query
from test_duckdb_positions import hu

from engine.connectors.postgres_tables import postgres_sink

TABLES = {
    "handling_unit": {"key": ["id"], "columns": {"id": "str", "order_id": "str", "status": "str"}},
    "note": {"key": ["id"], "columns": {"id": "int", "order_id": "int", "text": "str"}},
}
VIEWS = {"open_units": "SELECT id, order_id FROM handling_unit WHERE status <> 'DELIVERED'"}


def _at_once(count: int, make):
    """``make(i)`` in ``count`` threads released together: each one's result or exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = make(i)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _tables_writer(dsn, schema):
    return open_part(postgres_sink(dsn=dsn, schema=schema, tables=TABLES, views=VIEWS, reconnect="5s"))


def _close_all(parts) -> None:
    for part in parts:
        if not isinstance(part, Exception):
            part.close()


def test_writers_started_together_make_the_schema_tables_and_views_once(postgres_dsn, postgres_schema):
    parts = _at_once(4, lambda i: _tables_writer(postgres_dsn, postgres_schema))
    try:
        assert [p for p in parts if isinstance(p, Exception)] == []
        for i, part in enumerate(parts):  # every writer can write: its stage and positions exist
            part.write_batch([[hu("c", 10 + i, 0, id=f"U{i}")]])
    finally:
        _close_all(parts)
    made = query(postgres_dsn, postgres_schema, "SELECT table_name, table_type FROM information_schema.tables "
                 "WHERE table_schema = %s ORDER BY table_name", [postgres_schema])
    assert made == [("_positions_handling_unit", "BASE TABLE"), ("_positions_note", "BASE TABLE"),
                    ("handling_unit", "BASE TABLE"), ("note", "BASE TABLE"), ("open_units", "VIEW")]
    assert query(postgres_dsn, postgres_schema, "SELECT id FROM open_units ORDER BY id") == [
        (f"U{i}",) for i in range(4)]


def test_upsert_sinks_started_together_create_their_table_once(postgres_dsn, postgres_schema):
    def start(i: int):
        return open_part(postgres_sink(dsn=postgres_dsn, schema=postgres_schema, table="orders", mode="upsert",
                                       key=["id"], columns={"id": "int", "status": "str"}, reconnect="5s"))

    parts = _at_once(4, start)
    try:
        assert [p for p in parts if isinstance(p, Exception)] == []
        written = _at_once(4, lambda i: parts[i].write_batch([[{"id": k, "status": f"by {i}"} for k in range(50)]]))
        assert [w for w in written if isinstance(w, Exception)] == []
    finally:
        _close_all(parts)
    rows = query(postgres_dsn, postgres_schema, "SELECT id, status FROM orders ORDER BY id")
    assert [r[0] for r in rows] == list(range(50))
    assert len({status for _, status in rows}) == 1  # batches take turns: one writer's batch is the last whole


def test_an_older_change_from_another_writer_never_overwrites_a_newer_one(postgres_dsn, postgres_schema):
    """The race the lock closes: writer A (position 30) waits for the row, held by a reader's
    transaction; writer B (position 20) comes next. Without turns, B's check ran before A
    committed and its upsert then overwrote A's newer row."""
    first, second = _tables_writer(postgres_dsn, postgres_schema), _tables_writer(postgres_dsn, postgres_schema)
    holder = psycopg.connect(postgres_dsn, options=f"-c search_path={postgres_schema}")
    try:
        first.write_batch([[hu("c", 10, 0, id="X", status="NEW")]])
        holder.execute("SELECT * FROM handling_unit WHERE id = 'X' FOR UPDATE")  # a transaction holds the row
        newer = threading.Thread(target=first.write_batch, args=([[hu("u", 30, 0, id="X", status="DELIVERED")]],))
        newer.start()
        time.sleep(0.5)  # A now waits for the row
        older = threading.Thread(target=second.write_batch, args=([[hu("u", 20, 0, id="X", status="PLANNED")]],))
        older.start()
        time.sleep(0.5)  # B waits too (for A's turn, or, without turns, for the row behind A)
        holder.rollback()
        newer.join(30)
        older.join(30)
    finally:
        holder.close()
        first.close()
        second.close()
    assert query(postgres_dsn, postgres_schema, "SELECT id, status FROM handling_unit") == [("X", "DELIVERED")]
    assert query(postgres_dsn, postgres_schema, "SELECT _lsn FROM _positions_handling_unit") == [(30,)]
