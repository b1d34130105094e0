"""velocity-flow query: read-only SQL on a DuckDB sink, answered by the running flow itself
(engine/connectors/duckdb_live.py) or read from the file when no flow runs."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import duckdb
import pytest

from cli.main import main
from engine.connectors.duckdb_live import QueryError, query, socket_path

ROOT = pathlib.Path(__file__).parents[2]
BATCH = 500  # lines per source batch: 250 changes of table a, 250 of table b

LIVE = """\
version: 1
name: live-query
sources:
  changes: {{file: {{path: changes.jsonl, batch_size: {batch}}}}}
sinks:
  fast:
    from: changes
    duckdb:
      path: out/live.duckdb
      tables:
        a: {{key: [id], columns: {{id: int, g: int}}}}
        b: {{key: [id], columns: {{id: int, g: int}}}}
"""


def _changes(path: pathlib.Path, lines: int) -> None:
    with path.open("w") as out:
        for i in range(lines):
            out.write(json.dumps({"table": "ab"[i % 2], "op": "c", "after": {"id": i, "g": i // BATCH}}) + "\n")


def test_a_second_process_querying_a_running_flow_always_sees_whole_batches(tmp_path):
    _changes(tmp_path / "changes.jsonl", 160_000)
    (tmp_path / "flow.yaml").write_text(LIVE.format(batch=BATCH))
    database = str(tmp_path / "out" / "live.duckdb")
    flow = subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", "flow.yaml"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    seen, cli_answers = [], []
    sql = ("SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), (SELECT count(DISTINCT g) FROM a), "
           "(SELECT count(DISTINCT g) FROM b), (SELECT max(g) FROM a), (SELECT max(g) FROM b)")
    try:
        while flow.poll() is None:
            if not os.path.exists(socket_path(database)):
                time.sleep(0.01)
                continue
            try:
                a, b, groups_a, groups_b, last_a, last_b = query(database, sql)["rows"][0]
            except QueryError as exc:  # the flow ending between the check and the query
                assert flow.poll() is not None, exc
                break
            # both tables at the same batch, every batch whole (250 rows of each table per group)
            assert a == b == 250 * groups_a == 250 * groups_b and last_a == last_b, (a, b, groups_a, groups_b)
            seen.append(a)
            time.sleep(0.02)
            if len(cli_answers) < 2 and len(seen) % 20 == 0:  # the command too, while the flow runs
                done = subprocess.run([sys.executable, "-m", "cli", "query", "flow.yaml", "SELECT count(*) AS n FROM a",
                                       "--format", "json"], cwd=tmp_path, capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)})
                assert done.returncode == 0, done.stderr
                cli_answers.append(json.loads(done.stdout)["n"])
    finally:
        flow.wait(timeout=120)
    assert flow.returncode == 0, flow.stderr.read()[-2000:]
    assert len(seen) >= 50 and len(set(seen)) >= 5, seen[:20]  # asked often while the flow wrote many states
    assert seen == sorted(seen) and 0 < seen[-1] <= 80_000
    assert len(cli_answers) == 2 and all(n % 250 == 0 for n in cli_answers)
    assert not os.path.exists(socket_path(database))  # the flow took its socket away
    assert query(database, "SELECT count(*), count(DISTINCT g) FROM a")["rows"] == [[80_000, 320]]  # from the file


@pytest.fixture
def finished(tmp_path, monkeypatch):
    """A flow that ran: out/live.duckdb holds its tables."""
    monkeypatch.chdir(tmp_path)
    _changes(tmp_path / "changes.jsonl", 2000)
    (tmp_path / "flow.yaml").write_text(LIVE.format(batch=BATCH))
    assert main(["run", "-q", "flow.yaml"]) == 0
    return tmp_path


def test_after_the_flow_the_file_is_read_read_only(finished, capsys):
    assert main(["query", "flow.yaml", "SELECT g, count(*) AS n FROM a GROUP BY g ORDER BY g", "--format", "json"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"g": g, "n": 250} for g in range(4)]
    assert main(["query", "flow.yaml", "SHOW TABLES"]) == 0
    shown = capsys.readouterr().out
    assert "_positions_a" in shown and "(4 rows)" in shown


@pytest.mark.parametrize("sql, message", [
    ("DELETE FROM a", "only SELECT queries (read-only), not a DELETE statement"),
    ("SELECT 1; DROP TABLE a", "one statement at a time, not 2"),
    ("SELECT nope FROM a", 'Referenced column "nope" not found'),
    ("SELEC 1", "the query does not parse"),
])
def test_what_is_not_one_read_only_query_is_refused_with_one_line(finished, capsys, sql, message):
    assert main(["query", "flow.yaml", sql]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: query on out/live.duckdb: ") and message in err and len(err.splitlines()) == 1
    con = duckdb.connect("out/live.duckdb", read_only=True)
    assert con.execute("SELECT count(*) FROM a").fetchone() == (1000,)  # untouched
    con.close()


def test_a_socket_left_by_a_killed_flow_is_not_an_error(finished):
    address = socket_path("out/live.duckdb")
    os.makedirs(os.path.dirname(address), exist_ok=True)
    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(address)  # bound, never listening: what a SIGKILL leaves behind
    stale.close()
    try:
        assert query("out/live.duckdb", "SELECT count(*) FROM b")["rows"] == [[1000]]
    finally:
        os.unlink(address)


def test_which_sink_and_usage_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "two.yaml").write_text(
        "version: 1\nname: two\nsources:\n  s: {file: {path: in.jsonl}}\nsinks:\n"
        "  one: {from: s, duckdb: {path: one.duckdb, table: t, columns: {a: int}}}\n"
        "  two: {from: s, duckdb: {path: two.duckdb, table: t, columns: {a: int}}}\n")
    assert main(["query", "two.yaml", "SELECT 1"]) == 2
    assert "several sinks to query (one, two): choose one with --sink" in capsys.readouterr().err
    assert main(["query", "two.yaml", "SELECT 1", "--sink", "tow"]) == 2
    assert "did you mean 'two'?" in capsys.readouterr().err
    assert main(["query", "two.yaml", "SELECT 1", "--sink", "two"]) == 3
    assert "no database at two.duckdb" in capsys.readouterr().err
    (tmp_path / "none.yaml").write_text("version: 1\nname: none\nsources:\n  s: {file: {path: in.jsonl}}\n"
                                        "sinks:\n  out: {from: s, stdout: {}}\n")
    assert main(["query", "none.yaml", "SELECT 1"]) == 2
    assert "has no duckdb or postgres sink to query" in capsys.readouterr().err


def test_a_postgres_sink_is_queried_in_a_read_only_transaction(postgres_dsn, postgres_schema, tmp_path,
                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PG_DSN", postgres_dsn)
    (tmp_path / "in.jsonl").write_text('{"id": 1, "t": "infinity"}\n{"id": 2, "t": "2026-12-01T10:00:00Z"}\n')
    (tmp_path / "pg.yaml").write_text(
        "version: 1\nname: pg\nsources:\n  s: {file: {path: in.jsonl}}\nsinks:\n"
        f"  t: {{from: s, postgres: {{dsn: '${{PG_DSN}}', schema: {postgres_schema}, table: t, "
        "columns: {id: int, t: timestamp}}}\n")
    assert main(["run", "-q", "pg.yaml"]) == 0
    assert main(["query", "pg.yaml", "SELECT id, t FROM t ORDER BY id", "--format", "json"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"id": 1, "t": "infinity"}, {"id": 2, "t": "2026-12-01 10:00:00+00"}]
    assert main(["query", "pg.yaml", "DELETE FROM t"]) == 3
    err = capsys.readouterr().err
    assert err == "error: query on postgres sink: cannot execute DELETE in a read-only transaction\n"
    assert main(["query", "pg.yaml", "SELECT count(*) AS n FROM t", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"n": 2}
