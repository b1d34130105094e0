"""Adversarial queries on a DuckDB sink's database while its flow writes it (``velocity-flow
query``, ``POST /api/v1/query``): one SELECT that changes the database for what follows (logging
to an unwritable place broke every later write of the flow), that reads files, that runs long or
answers a huge result, is refused or stopped in one line, and the writer goes on writing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors import duckdb_live
from engine.connectors.duckdb import DuckDBSink
from engine.connectors.duckdb_live import QueryError, query, run_read_only
from engine.connectors.duckdb_view_checks import EFFECTS, read_only_problem

ROOT = Path(__file__).resolve().parents[2]
# A sink partition of the single-table DuckDB sink, in a process of its own (a query that breaks
# DuckDB may abort the process): one batch at start, one more per line read, closed at the end.
HOLDER = """\
import sys
from engine.connectors.duckdb import DuckDBSink
sink = DuckDBSink(sys.argv[1], "t", {"id": "int", "v": "str"}, mode="upsert", key=["id"])
part, encode = sink.build_part("s", "p", None), sink.encoder()
part.write_batch([[encode({"id": 0, "v": "first"})]])
print("ready", flush=True)
for line in sys.stdin:
    part.write_batch([[encode({"id": int(line), "v": "more"})]])
    print("wrote", flush=True)
part.close()
"""
EFFECTFUL = [
    "SELECT * FROM enable_logging(storage='file', storage_path='/proc/velocity-flow-nowhere/log')",
    "SELECT * FROM enable_logging()",
    "SELECT * FROM enable_profiling()",
    "SELECT count(*) FROM (SELECT * FROM t), LATERAL (SELECT * FROM CheckPoint())",
    "WITH x AS (FROM force_checkpoint()) SELECT * FROM x",
    "SELECT * FROM query('SELECT * FROM enable_profiling()')",
    "SELECT 1 UNION ALL SELECT count(*) FROM truncate_duckdb_logs()",
    "SELECT nextval('s')",
]


class Holder:
    def __init__(self, database: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, database], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.process.stdout.readline().strip() == "ready", self.process.stderr.read()

    def write(self, key: int) -> None:
        self.process.stdin.write(f"{key}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().strip()
        assert line == "wrote", (line, self._end()[1][-2000:])

    def _end(self):
        out, err = self.process.communicate(timeout=60)
        return out, err

    def close(self):
        out, err = self._end()
        assert self.process.returncode == 0, err[-2000:]
        return out, err


@pytest.fixture
def holder(tmp_path):
    running = Holder(str(tmp_path / "db.duckdb"))
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_a_select_that_would_change_the_database_is_refused_and_the_flow_writes_on(tmp_path, holder):
    database = str(tmp_path / "db.duckdb")
    for n, sql in enumerate(EFFECTFUL, start=1):
        with pytest.raises(QueryError, match="may not call") as caught:
            query(database, sql)
        assert "\n" not in str(caught.value)
        holder.write(n)  # the writer's next batch goes in
        assert query(database, "SELECT count(*) FROM t")["rows"] == [[n + 1]]
    out, err = holder.close()
    assert out == ""  # no profile printed on the flow's output (a "wrote" line each, read above)
    assert "Total Time" not in err


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.csv"
    path.write_text("k,v\n1,top-secret\n", encoding="utf-8")
    return str(path)


READERS = ["SELECT * FROM read_text('{secret}')", "SELECT * FROM read_csv('{secret}')", "FROM '{secret}'",
           "SELECT * FROM glob('{tmp}/*')", "SELECT * FROM read_blob('{secret}')",
           "SELECT count(*) FROM read_duckdb('{tmp}/other.duckdb')"]


@pytest.mark.parametrize("sql", READERS)
def test_a_query_reads_the_sinks_database_only(tmp_path, secret, sql):
    """The HTTP endpoint answers any local user: no query reads the flow's files (~/.pgpass)."""
    sql = sql.format(secret=secret, tmp=tmp_path)
    database = str(tmp_path / "db.duckdb")
    sink = DuckDBSink(database, "t", {"id": "int"}, mode="upsert", key=["id"])
    part = sink.build_part("s", "p", None)
    try:
        with pytest.raises(QueryError) as served:  # answered by the flow
            query(database, sql)
        part.write_batch([[sink.encoder()({"id": 1})]])
    finally:
        part.close()
    with pytest.raises(QueryError) as from_file:  # the file read once the flow has stopped
        query(database, sql)
    for caught in (served, from_file):
        assert "top-secret" not in str(caught.value) and "secret.csv" not in str(caught.value).replace(secret, "")
    assert query(database, "SELECT count(*) FROM t")["rows"] == [[1]]


@pytest.fixture
def served(tmp_path):
    database = str(tmp_path / "db.duckdb")
    sink = DuckDBSink(database, "t", {"id": "int"}, mode="upsert", key=["id"])
    part = sink.build_part("s", "p", None)
    part.write_batch([[sink.encoder()({"id": 1})]])
    yield database, lambda key: part.write_batch([[sink.encoder()({"id": key})]])
    part.close()


def test_a_huge_result_is_refused_in_one_line_not_held_in_the_flows_memory(served, monkeypatch):
    database, write = served
    monkeypatch.setattr(duckdb_live, "MAX_RESULT", 1 << 20)
    started = time.monotonic()
    with pytest.raises(QueryError, match=r"the result is over 1 MiB \(at row \d+\): add a LIMIT"):
        query(database, "SELECT * FROM range(1000000000000)")
    assert time.monotonic() - started < 10
    write(2)
    assert query(database, "SELECT count(*) FROM range(100000)")["rows"] == [[100000]]  # small enough
    assert len(query(database, "SELECT * FROM range(50000)")["rows"]) == 50000


def test_a_long_query_is_stopped_and_the_next_one_answered(served, monkeypatch):
    database, write = served
    monkeypatch.setattr(duckdb_live, "QUERY_SECONDS", 0.5)
    started = time.monotonic()
    with pytest.raises(QueryError, match=r"the query ran over 0.5 s and was stopped"):
        query(database, "SELECT count(*) FROM range(100000000000000)")
    assert time.monotonic() - started < 10
    write(2)
    assert query(database, "SELECT count(*) FROM t")["rows"] == [[2]]


# -- properties: whatever text is sent, an accepted query changes nothing ------------------------

PIECES = ["SELECT", "FROM", "WITH x AS (SELECT 1)", "VALUES (1)", "SHOW", "DESCRIBE", "SUMMARIZE", "t", "x", "*",
          "1", ";", "--", "/*", "*/", "(", ")", ",", "'", "COPY t TO 'o.csv'", "ATTACH 'o.db'", "INSTALL json",
          "LOAD json", "SET threads = 1", "PRAGMA enable_profiling", "CALL checkpoint()", "DROP TABLE t",
          "INSERT INTO t VALUES (9)", "DELETE FROM t", "UPDATE t SET id = 7", "CREATE TABLE y (a INT)",
          "CHECKPOINT", "EXPORT DATABASE 'o'", "DETACH t", "BEGIN", "COMMIT", "ROLLBACK", "VACUUM", "RESET threads",
          "LATERAL", "UNION ALL", "read_text('o.csv')", "range(3)", "PIVOT t ON id", "EXPLAIN ANALYZE",
          *(f"{name}()" for name in sorted(EFFECTS))]


def _state(con):
    return (con.execute("SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY 1").fetchall(),
            con.execute("SELECT sum(id), count(*) FROM t").fetchall(),
            con.execute("SELECT name, value FROM duckdb_settings() ORDER BY 1").fetchall(),
            con.execute("SELECT count(*) FROM duckdb_logs").fetchall())


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("props")
    con = duckdb.connect(str(folder / "db.duckdb"))
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    con.execute("INSERT INTO t SELECT * FROM range(5)")
    con.execute("SET enable_external_access = false")  # as the query server sets it
    reader = con.cursor()
    yield folder, con, reader
    con.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=7).map(" ".join))
def test_whatever_sql_is_sent_an_accepted_query_changes_nothing(database, sql):
    folder, con, reader = database
    before, files = _state(con), sorted(os.listdir(folder))
    try:
        run_read_only(reader, sql)
    except QueryError as exc:
        assert str(exc) and "\n" not in str(exc)
    assert _state(con) == before and sorted(os.listdir(folder)) == files
    for name in EFFECTS:
        if f"{name}()" in sql and "'" not in sql and "--" not in sql and "/*" not in sql:
            assert read_only_problem(sql), sql  # a call of it anywhere is refused (outside strings)
