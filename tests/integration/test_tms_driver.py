"""The TMS driver on a real PostgreSQL (started by scripts/postgres): after the workload, the
database holds exactly the simulator's ground truth."""

import json
import os

from cli.main import main
from engine.simulation import generate
from engine.simulation.schema import TABLES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_sql_workload_leaves_the_ground_truth_in_postgres(postgres_dsn, tmp_path):
    postgres = postgres_dsn  # a database of its own on the session's server (tests/services/postgres.py)
    import psycopg

    assert main(["generate", "tms", "--orders", "30", "--seed", "9", "--postgres", postgres]) == 0
    generate(str(tmp_path), orders=30, seed=9)
    with psycopg.connect(postgres) as con:
        for name, table in TABLES.items():
            truth = [json.loads(line) for line in (tmp_path / "truth" / "tables" / f"{name}.jsonl").read_text().splitlines()]
            key = ", ".join(table.primary_key)
            stored = con.execute(f"SELECT {key} FROM {name} ORDER BY {key}").fetchall()
            assert sorted(tuple(str(v) for v in row) for row in stored) == \
                sorted(tuple(str(r[k]) for k in table.primary_key) for r in truth), name
        statuses = dict(con.execute("SELECT id::text, status FROM transport_order").fetchall())
    truth_orders = [json.loads(line) for line in (tmp_path / "truth" / "tables" / "transport_order.jsonl").read_text().splitlines()]
    assert statuses == {r["id"]: r["status"] for r in truth_orders}
