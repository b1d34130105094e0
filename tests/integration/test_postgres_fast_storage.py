"""The PostgreSQL sink in whole flows on a real server (tests/services/postgres.py): the
Velocity Fast Storage on `--env postgres` equals the TMS ground truth; a flow killed with
SIGKILL and resumed, or running through a server restart, ends with exactly the tables of an
undisturbed run; a poison row is dead-lettered while its batch commits; a table that exists
with other columns stops the run with one line naming the sink."""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time
import uuid

import psycopg

from cli.main import main
from engine.simulation import generate
from tests.integration.pg_changes import TOPOLOGY, tables, write_changes
from tests.test_velocity_golden import TABLES, rows

ROOT = pathlib.Path(__file__).parents[2]
CHANGES = 200_000


def _schema() -> str:
    return "f_" + uuid.uuid4().hex[:12]


def _flow(directory: pathlib.Path, name: str) -> pathlib.Path:
    path = directory / "flow.yaml"
    path.write_text(TOPOLOGY.format(dir=directory, name=name), encoding="utf-8")
    return path


def _run(path: pathlib.Path, dsn: str, schema: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PG_DSN": dsn, "PG_SCHEMA": schema}
    return subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", *extra, str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> None:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]


def _count(dsn: str, schema: str, table: str) -> int:
    return _scalar(dsn, schema, f"SELECT count(*) FROM {table}", 0)


def _reached(dsn: str, schema: str) -> int:
    """The newest change an item row holds: it rises as the flow goes through the input, where
    the count of items stops rising once the 3,000 keys exist."""
    return _scalar(dsn, schema, "SELECT coalesce(max(n), -1) FROM item", -1)


def _scalar(dsn: str, schema: str, query: str, default: int) -> int:
    try:
        with psycopg.connect(dsn, options=f"-c search_path={schema}", connect_timeout=2) as conn:
            return conn.execute(query).fetchone()[0]
    except psycopg.Error:  # not created yet, or the server restarting
        return default


def test_velocity_fast_storage_on_postgres_equals_the_ground_truth(postgres_dsn, tmp_path, monkeypatch):
    generate(str(tmp_path / "tms"), orders=40, seed=5, with_schema=True, snapshot_after=20, key_moves=True)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_TMS", str(tmp_path / "tms"))
    monkeypatch.setenv("VF_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("VF_PG_DSN", postgres_dsn)
    schema = _schema()
    monkeypatch.setenv("VF_PG_SCHEMA", schema)
    for topology in ("transport_order_domain", "pickup_domain", "trip_domain"):
        assert main(["run", "-q", f"topologies/velocity/{topology}.yaml"]) == 0, topology
    assert main(["run", "-q", "--env", "postgres", "topologies/velocity/fast_storage.yaml"]) == 0
    assert not (tmp_path / "out" / "fast_storage.duckdb").exists()  # the environment's sink, not the base's
    with psycopg.connect(postgres_dsn, options=f"-c search_path={schema}") as conn:
        for table in TABLES:
            truth = [json.loads(line) for line in
                     (tmp_path / "tms" / "truth" / "tables" / f"{table}.jsonl").read_text().splitlines()]
            cursor = conn.execute(f"SELECT * FROM {table}")
            names = [d.name for d in cursor.description]
            assert rows([dict(zip(names, r)) for r in cursor.fetchall()], table) == rows(truth, table), table
        loads = conn.execute("SELECT trip_id, jsonb_array_length(stops), jsonb_array_length(legs) FROM load").fetchall()
        assert len(loads) == conn.execute("SELECT count(*) FROM trip").fetchone()[0] > 0
        assert all(legs == stops - 1 for _, stops, legs in loads if stops)  # a leg between consecutive stops
        metrics = conn.execute("SELECT departure_time, route FROM order_metrics WHERE status = 'delivered'").fetchall()
        assert metrics and all(departed is not None and len(route) >= 2 for departed, route in metrics)
    assert not [p for p in (tmp_path / "out" / "dead-letter").glob("*.jsonl") if p.read_text()]


def test_a_flow_killed_mid_run_and_resumed_equals_a_crash_free_run(postgres_dsn, tmp_path):
    write_changes(tmp_path / "changes.jsonl", CHANGES)
    flow = _flow(tmp_path, "kills")
    calm = _schema()
    _finish(_run(flow, postgres_dsn, calm))
    expected = tables(postgres_dsn, calm)
    assert len(expected["item"]) > 1000 and len(expected["_positions_pair"]) > 500

    killed, recovery, rng = _schema(), tmp_path / "recovery", random.Random(20)
    kills = 0
    while kills < 5:
        # each start resumes from the last snapshot (-s 1) and is killed once its writes reach a random
        # change 2-12% of the input past what the starts before it wrote: five kills fit in any run.
        # (Times let a start faster than the timed run finish after two kills; a count of items stopped
        # rising once the 3,000 keys existed: CI 2026-12-05.)
        target = _reached(postgres_dsn, killed) + int(rng.uniform(0.02, 0.12) * CHANGES)
        proc = _run(flow, postgres_dsn, killed, "-r", str(recovery), "-s", "1")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and _reached(postgres_dsn, killed) < target:
            time.sleep(0.02)
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.communicate()[1][-3000:]
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        kills += 1
    assert kills == 5, f"the run ended after {kills} kills: make the input longer"
    assert _count(postgres_dsn, killed, "item") > 0
    _finish(_run(flow, postgres_dsn, killed, "-r", str(recovery), "-s", "1"))
    assert tables(postgres_dsn, killed) == expected
    assert (tmp_path / "dead.jsonl").read_text() == ""


def test_a_postgres_restart_during_a_run_is_survived_without_loss(postgres_server, postgres_dsn, tmp_path):
    write_changes(tmp_path / "changes.jsonl", CHANGES, seed=8)
    flow = _flow(tmp_path, "restart")
    calm = _schema()
    _finish(_run(flow, postgres_dsn, calm))
    expected = tables(postgres_dsn, calm)

    restarted = _schema()
    proc = _run(flow, postgres_dsn, restarted)
    deadline = time.monotonic() + 60
    while _count(postgres_dsn, restarted, "item") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before the restart: make the input longer"
    postgres_server.restart(pause=1.0)
    _finish(proc)
    assert tables(postgres_dsn, restarted) == expected


POISON = """
version: 1
name: pg-poison
sources:
  orders: {{file: {{path: "{dir}/orders.jsonl"}}}}
sinks:
  orders:
    from: orders
    postgres: {{dsn: "${{PG_DSN}}", schema: "${{PG_SCHEMA}}", table: orders, mode: upsert, key: [id],
               columns: {{id: int, note: str, kg: "decimal(6,2)"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_a_poison_row_is_dead_lettered_while_the_rest_of_its_batch_commits(postgres_dsn, tmp_path):
    events = [{"id": 1, "note": "fine", "kg": "1.5"}, {"id": 2 ** 64, "note": "id beyond bigint"},
              {"id": 3, "note": "nul \x00 inside"}, {"id": 4, "note": "fine too", "kg": 12},
              {"id": 5, "kg": "123456"}, {"id": None, "note": "null key"}, {"id": 6, "note": "last"}]
    (tmp_path / "orders.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(POISON.format(dir=tmp_path), encoding="utf-8")
    schema = _schema()
    _finish(_run(tmp_path / "flow.yaml", postgres_dsn, schema))
    with psycopg.connect(postgres_dsn, options=f"-c search_path={schema}") as conn:
        assert conn.execute("SELECT id, note, kg::text FROM orders ORDER BY id").fetchall() == [
            (1, "fine", "1.50"), (4, "fine too", "12.00"), (6, "last", None)]
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [d["step"] for d in dead] == ["sink:orders"] * 4
    reasons = " | ".join(d["error"] for d in dead)
    for reason in ("column 'id': 18446744073709551616 is beyond BIGINT", "column 'note': text holds a NUL character",
                   "column 'kg': Decimal('123456') has more than 4 digits before the point", "key column 'id' is null"):
        assert reason in reasons


def test_a_mismatched_existing_table_stops_the_run_with_one_line_naming_the_sink(postgres_dsn, tmp_path):
    schema = _schema()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.orders (id BIGINT PRIMARY KEY, note VARCHAR(20), kg NUMERIC(6,2))")
    (tmp_path / "orders.jsonl").write_text('{"id": 1}\n', encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(POISON.format(dir=tmp_path), encoding="utf-8")
    user, rest = postgres_dsn.split("://", 1)[1].split("@", 1)
    with_password = f"postgresql://{user}:Pa55-secret@{rest}"  # trust authentication ignores it
    proc = _run(tmp_path / "flow.yaml", with_password, schema)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    lines = err.strip().splitlines()
    assert lines == ["error: sink 'orders': postgres sink: table 'orders' exists with other columns: "
                     "column 'note' is character varying(20), not text"], err
    assert "Pa55-secret" not in err and "Traceback" not in err


def test_the_dead_letter_sink_can_be_a_postgresql_table(postgres_dsn, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": 1}\n{"id": "x"}\n{"id": 2}\n', encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(f"""
version: 1
name: pg-dead-letters
sources:
  s: {{file: {{path: "{tmp_path}/in.jsonl"}}}}
sinks:
  t: {{from: s, postgres: {{dsn: "${{PG_DSN}}", schema: "${{PG_SCHEMA}}", table: t, columns: {{id: int}}}}}}
dead_letter: {{postgres: {{dsn: "${{PG_DSN}}", schema: "${{PG_SCHEMA}}", table: dead_letters}}}}
""", encoding="utf-8")
    schema = _schema()
    _finish(_run(tmp_path / "flow.yaml", postgres_dsn, schema))
    with psycopg.connect(postgres_dsn, options=f"-c search_path={schema}") as conn:
        assert conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
        assert conn.execute("SELECT step, error, origin, event FROM dead_letters").fetchall() == [
            ("sink:t", "table 't', column 'id': expected an integer, got str 'x'", f"{tmp_path}/in.jsonl:2", {"id": "x"})]
