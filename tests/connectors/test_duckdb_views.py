"""DuckDB ``views`` are analysts' queries over the sink's own tables (issue 13): one SELECT (or
WITH ... SELECT) statement each, refused otherwise at validate time, and created with external
access disabled, so no view can read or write files, attach databases or load extensions."""

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout

import duckdb
import pytest

from connector_flows import Encoding
from engine.connectors.duckdb_tables import DuckDBTablesSink, view_problem
from engine.connectors.errors import ConnectorError

TABLES = {"trip": {"key": ["id"], "columns": {"id": "int", "status": "str"}}}

REFUSED = [
    "SELECT 1; SELECT 2",
    "SELECT * FROM trip; DROP TABLE trip",
    "COPY trip TO '{tmp}/copy.csv'",
    "ATTACH '{tmp}/other.db' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA version",
    "SET threads = 1",
    "CREATE TABLE x (a INT)",
    "DROP TABLE trip",
    "EXPLAIN SELECT 1",
    "CALL pragma_version()",
    "DELETE FROM trip",
    "SELECT 1 AS a; COPY (SELECT 1) TO '{tmp}/x.csv'",
    "SELECT * FROM query('COPY (SELECT 42) TO ''{tmp}/out.csv''')",  # SQL given as text: refused unread
    "SELECT * FROM checkpoint()",
    "SELEC 1",
    "",
    "   ",
]
ACCEPTED = [
    "SELECT id, status FROM trip",
    "WITH open AS (SELECT * FROM trip WHERE status <> 'DONE') SELECT count(*) AS n FROM open",
    "FROM trip SELECT id",
    "SELECT 1 AS one;",
    "-- the trips\nSELECT id FROM trip /* all */",
]
# one SELECT each, but reading files, the network or the environment: refused when the view is created
READERS = [
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_json_auto('{secret}')",
    "SELECT * FROM glob('{tmp}/*')",
    "SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')",
]


def fetch(tmp_path, sql):
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("id,value\n1,top-secret\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("query", REFUSED)
def test_anything_but_one_select_is_refused_by_the_parser(tmp_path, query):
    query = query.format(tmp=tmp_path)
    assert view_problem(query)
    with pytest.raises(ConnectorError, match="view 'v'"):
        DuckDBTablesSink(str(tmp_path / "db.duckdb"), TABLES, {"v": query})
    assert sorted(os.listdir(tmp_path)) == []  # nothing opened, copied or attached


@pytest.mark.parametrize("query", ACCEPTED)
def test_select_and_with_queries_are_views(tmp_path, query):
    assert view_problem(query) is None
    sink = DuckDBTablesSink(str(tmp_path / "db.duckdb"), TABLES, {"v": query})
    part = Encoding(sink, sink.build_part("s", "p", None))
    part.write_batch([[{"table": "trip", "op": "c", "after": {"id": 1, "status": "OPEN"}}]])
    part.close()
    assert fetch(tmp_path, "SELECT count(*) FROM v") == [(1,)]


def test_a_query_that_closes_the_view_early_is_refused(tmp_path):
    with pytest.raises(ConnectorError):
        DuckDBTablesSink(str(tmp_path / "db.duckdb"), TABLES, {"v": "SELECT 1) AS x; DROP TABLE trip; (SELECT 1"})


@pytest.mark.parametrize("query", READERS)
def test_views_cannot_touch_files_or_the_network(tmp_path, secret, query):
    query = query.format(tmp=tmp_path, secret=secret)
    sink = DuckDBTablesSink(str(tmp_path / "db.duckdb"), TABLES, {"v": query})
    with pytest.raises(ConnectorError) as caught:
        sink.build_part("s", "p", None)
    assert "cannot create a view" in str(caught.value)
    assert "top-secret" not in str(caught.value)
    assert not os.path.exists(tmp_path / "out.csv")
    assert fetch(tmp_path, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'v'") == [(0,)]


def test_the_writer_still_writes_with_external_access_disabled(tmp_path):
    sink = DuckDBTablesSink(str(tmp_path / "db.duckdb"), TABLES, {"v": "SELECT * FROM trip"})
    part = Encoding(sink, sink.build_part("s", "p", None))
    for n in range(3):
        part.write_batch([[{"table": "trip", "op": "c", "after": {"id": n, "status": "OPEN"}}]])
    part.write_batch([[{"table": "trip", "op": "d", "before": {"id": 0}}]])
    part.close()
    assert fetch(tmp_path, "SELECT id FROM v ORDER BY id") == [(1,), (2,)]


TOPOLOGY = """\
version: 1
name: t
sources:
  changes: {{file: {{path: {tmp}/in.jsonl}}}}
sinks:
  store:
    from: changes
    duckdb:
      path: {tmp}/db.duckdb
      tables:
        trip: {{key: [id], columns: {{id: int, status: str}}}}
      views:
        ok: SELECT * FROM trip
        bad: {query}
"""


def cli(*argv):
    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("query", ['"SELECT 1; SELECT 2"', "\"COPY trip TO '/tmp/x.csv'\"", "INSTALL httpfs",
                                   "\"ATTACH '/tmp/x.db'\"", "PRAGMA version", "SET threads = 1", "'SELEC 1'"])
def test_validate_refuses_a_bad_view_at_its_line(tmp_path, query):
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(tmp=tmp_path, query=query), encoding="utf-8")
    code, output = cli("validate", str(path))
    assert code == 1, output
    assert ":14:" in output and "view" in output
    code, output = cli("validate", "--format", "json", str(path))
    assert code == 1
    [result] = json.loads(output)
    assert [d["line"] for d in result["diagnostics"] if d["severity"] == "error"] == [14]


@pytest.mark.parametrize("query", READERS + ["SELECT nme FROM trip", "SELECT * FROM trips", "SELECT * FROM later"])
def test_validate_creates_the_views_over_empty_tables_and_refuses_what_cannot_be(tmp_path, secret, query):
    """validate makes the sink's tables (empty, in memory, external access off) and its views in
    order: a view reading a file, a URL or a table or column the sink does not have is an error
    at its line; nothing is read or written."""
    path = tmp_path / "t.yaml"
    query = query.format(tmp=tmp_path, secret=secret).replace("'", "''")
    path.write_text(TOPOLOGY.format(tmp=tmp_path, query=f"'{query}'") + "        later: SELECT * FROM ok\n",
                    encoding="utf-8")
    code, output = cli("validate", str(path))
    assert code == 1, output
    assert ":14:" in output and "view 'bad' cannot be created" in output and "top-secret" not in output
    assert not os.path.exists(tmp_path / "out.csv") and not os.path.exists(tmp_path / "db.duckdb")


def test_views_may_read_the_positions_tables_and_the_views_above_them(tmp_path):
    path = tmp_path / "t.yaml"
    query = "'SELECT o.id, p._lsn FROM ok o JOIN _positions_trip p USING (id)'"
    path.write_text(TOPOLOGY.format(tmp=tmp_path, query=query), encoding="utf-8")
    assert cli("validate", str(path)) == (0, f"{path}: valid (1 source(s), 0 step(s), 1 sink(s))\n")


def test_run_refuses_a_file_reading_view_before_reading_anything(monkeypatch, tmp_path, secret):
    monkeypatch.chdir(tmp_path)  # a default dead-letter file lands here
    (tmp_path / "in.jsonl").write_text('{"table": "trip", "op": "c", "after": {"id": 1, "status": "OPEN"}}\n')
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(tmp=tmp_path, query=f"\"SELECT * FROM read_text('{secret}')\""),
                    encoding="utf-8")
    code, output = cli("run", "-q", str(path))
    assert code == 1, output
    assert "view 'bad' cannot be created" in output and "top-secret" not in output
    assert not os.path.exists(tmp_path / "db.duckdb")


def test_a_key_naming_no_column_beside_views_is_one_error_not_a_crash(tmp_path):
    # found by the secrets test (a key column name from the environment): the views' check
    # created the table and DuckDB refused the key (exit 4); the key's own check reports it once
    path = tmp_path / "t.yaml"
    text = TOPOLOGY.format(tmp=tmp_path, query="SELECT 1").replace("key: [id]", "key: [idd]")
    path.write_text(text, encoding="utf-8")
    code, output = cli("validate", str(path))
    assert code == 1, output
    assert output.count("error:") == 1 and "key column 'idd' is not among the columns" in output
