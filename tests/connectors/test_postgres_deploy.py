"""``deploy`` and ``deploy --plan`` with ``postgres`` sinks on a real server
(engine/connectors/postgres_plan.py): the tables are checked against the declared columns
before the flow starts, a table that exists with other columns is one error line and exit 1
with nothing started or changed, and --plan creates nothing."""

from __future__ import annotations

import pathlib

import psycopg

from cli.main import main

SINGLE = """\
version: 1
name: pg-deploy
sources:
  rows: {{file: {{path: rows.jsonl}}}}
sinks:
  fast:
    from: rows
    postgres: {{dsn: "${{PG_DSN}}", schema: "${{PG_SCHEMA}}", table: t, mode: upsert, key: [id],
               columns: {{id: int, v: str}}}}
  copy: {{from: rows, file: {{path: copy.jsonl}}}}
"""
TABLES = """\
version: 1
name: pg-deploy-tables
sources:
  changes: {{file: {{path: changes.jsonl}}}}
sinks:
  fast:
    from: changes
    postgres:
      tables:
        item: {{key: [id], columns: {{id: int, v: str}}}}
        pair: {{key: [a, b], columns: {{a: str, b: int}}}}
      schema: "${{PG_SCHEMA}}"
      dsn: "${{PG_DSN}}"
"""


def _setup(tmp_path: pathlib.Path, monkeypatch, dsn: str, schema: str, text: str) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PG_DSN", dsn)
    monkeypatch.setenv("PG_SCHEMA", schema)
    (tmp_path / "rows.jsonl").write_text('{"id": 1, "v": "a"}\n')
    (tmp_path / "changes.jsonl").write_text('{"table": "item", "op": "c", "after": {"id": 1, "v": "a"}}\n')
    (tmp_path / "flow.yaml").write_text(text.format())
    return "flow.yaml"


def _sql(dsn: str, *statements: str):
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            result = conn.execute(statement)
        return result.fetchall() if result.description else None


def test_a_table_with_other_columns_is_one_error_line_before_the_flow_starts(tmp_path, monkeypatch, capsys,
                                                                             postgres_dsn, postgres_schema):
    path = _setup(tmp_path, monkeypatch, postgres_dsn, postgres_schema, SINGLE)
    _sql(postgres_dsn, f'CREATE SCHEMA "{postgres_schema}"',
         f'CREATE TABLE "{postgres_schema}".t (id bigint PRIMARY KEY, v integer)')
    for argv in (["deploy", "--plan", path], ["deploy", "-q", path]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [("error: postgres sink 'fast': table 't' exists with other columns: column 'v' is integer, "
                        "not text; deploy changes no existing table: align the topology or the table")], err
    assert not (tmp_path / "copy.jsonl").exists()  # the flow never started
    assert not (tmp_path / ".velocity").exists()
    _sql(postgres_dsn, f'DROP TABLE "{postgres_schema}".t',
         f'CREATE TABLE "{postgres_schema}".t (id bigint, v text)')  # the columns, no primary key for upsert
    assert main(["deploy", "--plan", path]) == 1
    assert "primary key is (none), upsert needs (id)" in capsys.readouterr().err


def test_plan_creates_nothing_and_deploy_creates_then_finds_the_tables_as_declared(tmp_path, monkeypatch, capsys,
                                                                                   postgres_dsn, postgres_schema):
    path = _setup(tmp_path, monkeypatch, postgres_dsn, postgres_schema, TABLES)
    assert main(["deploy", "--plan", path]) == 0
    assert "postgres sink 'fast': tables 4 to create" in capsys.readouterr().out  # two tables, their positions
    assert _sql(postgres_dsn, f"SELECT 1 FROM pg_namespace WHERE nspname = '{postgres_schema}'") == []
    monkeypatch.setenv("VF_KAFKA_TAIL", "false")
    assert main(["deploy", "-q", path]) == 0
    capsys.readouterr()
    assert main(["deploy", "--plan", path]) == 0
    assert "postgres sink 'fast': tables 4 exist as declared" in capsys.readouterr().out
    _sql(postgres_dsn, f'ALTER TABLE "{postgres_schema}".pair ADD COLUMN extra date')
    assert main(["deploy", "--plan", path]) == 1
    assert "table 'pair' exists with other columns: extra column 'extra' (date)" in capsys.readouterr().err


def test_an_unreachable_server_is_one_line_and_exit_3_without_the_password(tmp_path, monkeypatch, capsys):
    path = _setup(tmp_path, monkeypatch, "postgresql://me:s3cret@127.0.0.1:1/db", "s", SINGLE)
    assert main(["deploy", "--plan", path]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: postgres sink 'fast': cannot check its tables on me@127.0.0.1:1/db: ")
    assert "s3cret" not in err and "\n" not in err
