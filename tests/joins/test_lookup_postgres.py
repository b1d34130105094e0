"""The PostgreSQL lookup (engine/operators/joins/lookup_postgres.py) on a real server
(tests/services/postgres.py): rows found with their types, absent keys, one query per batch and
the cache's TTL, read-only sessions, a server restart survived by the batch that waits for it
(alone, and in a flow running through the restart: every event enriched, no dead letter), a
server that stays away dead-lettering at once, and validate connecting to nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
from decimal import Decimal

import psycopg
import pytest

from engine.errors import ConfigError
from engine.operators.joins.lookup import Lookup
from engine.operators.joins.lookup_postgres import PostgresLookupError
from engine.values import INFINITY


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def reference(postgres_dsn, postgres_schema):
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{postgres_schema}"')
        conn.execute(f'CREATE TABLE "{postgres_schema}".trip (id text PRIMARY KEY, trip_number text, '
                     'distance_km numeric(9,1), service_date date, departed timestamptz, extra jsonb)')
        conn.execute(f'INSERT INTO "{postgres_schema}".trip VALUES '
                     "('t1', 'TR-1', 12.5, '2026-01-02', '2026-01-02 08:00:00+00', '{\"a\": [1, 2]}'), "
                     "('t2', 'TR-2', NULL, NULL, 'infinity', NULL)")
    return postgres_dsn, postgres_schema


def lookup(reference, clock=None, **config):
    dsn, schema = reference
    options = {"postgres": dsn, "schema": schema, "table": "trip", "key": "id", "on": "trip",
               "fields": {"number": "trip_number"}, **config}
    return Lookup("l", options, None, **({"clock": clock} if clock else {}))


def update(reference, sql):
    dsn, schema = reference
    with psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}") as conn:
        conn.execute(sql)


def test_rows_are_found_with_their_types_and_absent_keys_get_nulls(reference):
    step = lookup(reference, fields={"number": "trip_number", "km": "distance_km", "day": "service_date",
                                     "departed": "departed", "extra": "extra"})
    out, dead = step.process([{"trip": "t1"}, {"trip": "t2"}, {"trip": "nope"}, {"trip": None}])
    assert dead == [] and step.queries == 1
    assert out[0] == {"trip": "t1", "number": "TR-1", "km": Decimal("12.5"), "day": dt.date(2026, 1, 2),
                      "departed": dt.datetime(2026, 1, 2, 8, tzinfo=dt.timezone.utc), "extra": {"a": [1, 2]}}
    assert out[1]["departed"] is INFINITY and out[1]["km"] is None
    assert out[2] == {"trip": "nope", "number": None, "km": None, "day": None, "departed": None, "extra": None}
    assert out[3]["number"] is None
    assert lookup(reference, how="inner").process([{"trip": "t2"}, {"trip": "x"}])[0] == [
        {"trip": "t2", "number": "TR-2"}]


def test_a_batch_is_one_query_and_the_cache_answers_until_its_ttl(reference):
    clock = Clock()
    step = lookup(reference, clock, ttl="10s")
    step.process([{"trip": "t1"}, {"trip": "t9"}, {"trip": "t1"}])
    step.process([{"trip": "t1"}, {"trip": "t9"}])
    assert step.queries == 1  # a row and an absence, both cached
    update(reference, "UPDATE trip SET trip_number = 'TR-1b' WHERE id = 't1'")
    update(reference, "INSERT INTO trip (id, trip_number) VALUES ('t9', 'TR-9')")
    assert [e["number"] for e in step.process([{"trip": "t1"}, {"trip": "t9"}])[0]] == ["TR-1", None]
    clock.now = 11
    assert [e["number"] for e in step.process([{"trip": "t1"}, {"trip": "t9"}])[0]] == ["TR-1b", "TR-9"]
    assert step.queries == 2


def test_the_session_is_read_only(reference):
    step = lookup(reference)
    step.process([{"trip": "t1"}])
    conn = step.reader._conn
    assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute(f'DELETE FROM "{reference[1]}".trip')


def test_a_missing_table_or_column_or_a_key_of_another_type_raises_with_the_reason(reference):
    with pytest.raises(PostgresLookupError, match='relation ".*trips" does not exist'):
        lookup(reference, table="trips").process([{"trip": "t1"}])
    with pytest.raises(PostgresLookupError, match='column "nme" does not exist'):
        lookup(reference, fields={"n": "nme"}).process([{"trip": "t1"}])
    with pytest.raises(PostgresLookupError, match="operator does not exist: text = "):
        lookup(reference).process([{"trip": 7}])


def test_a_bad_dsn_or_a_duckdb_option_is_a_config_error_and_the_password_is_never_shown():
    base = {"table": "t", "key": "id", "on": "k", "fields": {"v": "v"}}
    with pytest.raises(ConfigError) as caught:
        Lookup("l", {**base, "postgres": "host=x password=s3cret = ="}, None)
    assert caught.value.path == ("postgres",) and "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Lookup("l", {**base, "duckdb": "x.duckdb", "schema": "s"}, None)
    assert caught.value.path == ("schema",)
    step = Lookup("l", {**base, "postgres": "postgresql://u:s3cret@127.0.0.1:1/db", "reconnect": "200ms"}, None)
    with pytest.raises(PostgresLookupError) as failed:
        step.process([{"k": 1}])
    assert "no connection to PostgreSQL within 0.2s" in str(failed.value) and "s3cret" not in str(failed.value)


def test_a_server_restart_is_waited_for_and_costs_no_event(postgres_server, reference):
    step = lookup(reference, ttl="1ms")
    assert step.process([{"trip": "t1"}])[0] == [{"trip": "t1", "number": "TR-1"}]
    postgres_server.stop()
    starting = threading.Thread(target=lambda: (time.sleep(1), postgres_server.start()))
    starting.start()
    try:
        time.sleep(0.01)
        assert step.process([{"trip": "t1"}])[0] == [{"trip": "t1", "number": "TR-1"}]  # waited, reconnected
    finally:
        starting.join()
    assert step.queries == 2


def test_a_server_that_stays_away_fails_batches_at_once_until_it_is_back(postgres_server, reference):
    step = lookup(reference, ttl="1ms", reconnect="500ms")
    step.process([{"trip": "t1"}])
    postgres_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(PostgresLookupError, match="no connection to PostgreSQL within 0.5s"):
            step.process([{"trip": "t1"}])
        assert 0.4 < time.monotonic() - started < 5
        started = time.monotonic()
        for _ in range(20):  # the error boundary's one-event-at-a-time pass: no waiting
            with pytest.raises(PostgresLookupError):
                step.process([{"trip": "t1"}])
        assert time.monotonic() - started < 0.5
    finally:
        postgres_server.start()
    time.sleep(1.1)  # the next connection attempt
    assert step.process([{"trip": "t1"}])[0] == [{"trip": "t1", "number": "TR-1"}]


TOPOLOGY = """\
version: 1
name: lookup-postgres
sources:
  departures: {{file: {{path: {dir}/departures.jsonl}}}}
steps:
  - id: with-trip
    lookup:
      postgres: "${{PG_DSN}}"
      schema: "${{PG_SCHEMA}}"
      table: {table}
      key: id
      on: trip_id
      fields: {{trip_number: trip_number}}
sinks:
  out: {{from: with-trip, file: {{path: {dir}/out.jsonl}}}}
dead_letter: {{file: {{path: {dir}/dead.jsonl}}}}
"""


def test_a_flow_enriches_from_postgres_and_a_missing_table_dead_letters_with_the_reason(flow, reference):
    dsn, schema = reference
    env = {"PG_DSN": dsn, "PG_SCHEMA": schema}
    flow.write("departures.jsonl", [{"order": n, "trip_id": f"t{n % 3}"} for n in range(6)])
    outcome = flow.run(TOPOLOGY, env=env, table="trip")
    assert [(e["order"], e["trip_number"]) for e in outcome.rows("out")] == [
        (0, None), (1, "TR-1"), (2, "TR-2"), (3, None), (4, "TR-1"), (5, "TR-2")]
    outcome = flow.run(TOPOLOGY, env=env, table="trips")
    assert outcome.rows("out") == [] and len(outcome.dead) == 6
    assert all(d["step"] == "with-trip" and 'relation "' in d["error"] and dsn not in d["error"]
               for d in outcome.dead)


def test_validate_opens_no_connection_and_imports_no_psycopg(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(dir=tmp_path, table="trip"), encoding="utf-8")
    code = ("import sys; from cli.main import main; "
            f"rc = main(['validate', {str(path)!r}]); print(rc, 'psycopg' in sys.modules)")
    env = {"PG_DSN": "", "PG_SCHEMA": "nowhere", "PGHOST": "127.0.0.1", "PGPORT": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                         cwd=str(pathlib.Path(__file__).parents[2]))
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr


RESTARTED = """\
version: 1
name: lookup-restart
sources:
  departures: {{file: {{path: {dir}/departures.jsonl, batch_size: 1}}}}
steps:
  - id: with-trip
    lookup: {{postgres: "${{PG_DSN}}", schema: "${{PG_SCHEMA}}", table: slow_trip, key: id, on: trip_id,
             fields: {{trip_number: trip_number}}, ttl: 1ms, reconnect: 60s}}
sinks:
  out: {{from: with-trip, file: {{path: {dir}/out.jsonl}}}}
dead_letter: {{file: {{path: {dir}/dead.jsonl}}}}
"""


def test_a_flow_runs_through_a_server_restart_without_losing_an_event(postgres_server, reference, tmp_path):
    dsn, schema = reference
    update(reference, "CREATE VIEW slow_trip AS SELECT t.* FROM trip t, LATERAL (SELECT pg_sleep(0.01)) s")
    events = 600  # one query per event, 10 ms each: the flow runs for 6 s at least
    (tmp_path / "departures.jsonl").write_text("".join(
        json.dumps({"n": n, "trip_id": f"t{n % 3}"}) + "\n" for n in range(events)))
    (tmp_path / "flow.yaml").write_text(RESTARTED.format(dir=tmp_path))
    root = pathlib.Path(__file__).parents[2]
    flow = subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", str(tmp_path / "flow.yaml")], cwd=root,
                            env={**os.environ, "PG_DSN": dsn, "PG_SCHEMA": schema}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        out = tmp_path / "out.jsonl"
        deadline = time.monotonic() + 60
        while (not out.exists() or len(out.read_text().splitlines()) < 50) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flow.poll() is None, "the flow ended before the restart"
        postgres_server.restart(pause=0.5)
        assert flow.poll() is None, "the flow ended before the server was back"
        _, err = flow.communicate(timeout=180)
    finally:
        if flow.poll() is None:
            flow.kill()
    assert flow.returncode == 0, err[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted((r["n"], r["trip_number"]) for r in rows) == [
        (n, {0: None, 1: "TR-1", 2: "TR-2"}[n % 3]) for n in range(events)]
    assert (tmp_path / "dead.jsonl").read_text() == ""
