"""A ROLLBACK that fails after a failed write or query (the database was invalidated, the server
went away) must not hide the error that says what went wrong: that one is reported, in one line."""

from __future__ import annotations

import duckdb
import psycopg
import pytest
from connector_flows import Encoding

from engine.connectors import duckdb_live, postgres_query
from engine.connectors.duckdb import DuckDBSink
from engine.connectors.duckdb_tables import DuckDBTablesSink
from engine.connectors.errors import ConnectorError, QueryError


class _RollbackFails:
    """A DuckDB connection whose ROLLBACK and batch-view unregister fail, and whose statements
    holding ``fail`` fail first (with the error the sink must report)."""

    def __init__(self, con, fail: str) -> None:
        self._con, self._fail = con, fail

    def execute(self, sql, *args):
        if sql == "ROLLBACK":
            raise duckdb.TransactionException("rollback failed too")
        if self._fail and self._fail in sql:
            raise duckdb.ConstraintException("the first error")
        return self._con.execute(sql, *args)

    def unregister(self, name):
        raise duckdb.InvalidInputException("unregister failed too")

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_the_duckdb_sink_reports_its_write_error_when_the_rollback_fails_too(tmp_path):
    sink = DuckDBSink(str(tmp_path / "one.duckdb"), "t", {"id": "int"}, mode="upsert", key=["id"])
    part = sink.build_part("sink", sink.path, None)
    real = part._con
    part._con = _RollbackFails(real, "INSERT")
    try:
        with pytest.raises(ConnectorError, match=r"^duckdb sink: writing 1 events into 't' failed \(nothing "
                                                 r"written\): the first error$"):
            Encoding(sink, part).write_batch([[{"id": 1}]])
    finally:
        part._con = real
        part.close()


def test_the_duckdb_tables_sink_reports_its_write_error_when_the_rollback_fails_too(tmp_path):
    sink = DuckDBTablesSink(str(tmp_path / "many.duckdb"), {"t": {"key": ["id"], "columns": {"id": "int"}}})
    part = sink.build_part("sink", sink.path, None)
    real = part._con
    part._con = _RollbackFails(real, "DELETE FROM")
    try:
        with pytest.raises(ConnectorError, match=r"^duckdb sink: writing a batch of 1 row changes failed \(nothing "
                                                 r"written\): the first error$"):
            Encoding(sink, part).write_batch([[{"table": "t", "op": "c", "after": {"id": 1}}]])
    finally:
        part._con = real
        part.close()


def test_a_live_duckdb_query_reports_its_error_when_the_rollback_fails_too(monkeypatch):
    monkeypatch.setattr(duckdb_live, "read_only_problem", lambda sql, con: None)  # the wrapper is no connection
    con = duckdb.connect()
    try:
        with pytest.raises(QueryError, match="the first error"):
            duckdb_live.run_read_only(_RollbackFails(con, ""), "SELECT error('the first error')")
    finally:
        con.close()


class _LostConnection:
    """A psycopg connection whose query fails and whose rollback then fails (the server went away)."""

    closed = False

    class adapters:  # noqa: N801 - psycopg's attribute
        @staticmethod
        def register_loader(name, loader):
            pass

    def cursor(self, binary=False):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, *args, **kwargs):
        raise psycopg.OperationalError("terminating connection due to administrator command")

    def rollback(self):
        raise psycopg.OperationalError("the connection is lost")

    def close(self):
        self.closed = True


def test_a_postgres_query_reports_its_error_and_closes_when_the_rollback_fails_too(monkeypatch):
    conn = _LostConnection()
    monkeypatch.setattr(postgres_query.psycopg, "connect", lambda *args, **kwargs: conn)
    with pytest.raises(QueryError, match="^terminating connection due to administrator command$"):
        postgres_query.query("postgresql://u@localhost/db", None, "SELECT 1")
    assert conn.closed
