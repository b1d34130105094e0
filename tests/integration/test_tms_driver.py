"""The TMS driver on a real PostgreSQL (started by scripts/postgres): after the workload, the
database holds exactly the simulator's ground truth."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from cli.main import main
from engine.simulation import generate
from engine.simulation.schema import TABLES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    if shutil.which("pg_ctl") is None and not os.path.isdir("/usr/lib/postgresql"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL is required under CI", pytrace=False)
        pytest.skip("PostgreSQL is not installed")
    state = str(tmp_path_factory.mktemp("postgres"))
    script = os.path.join(ROOT, "scripts", "postgres")
    started = subprocess.run([sys.executable, script, "start", "--state-dir", state, "--port", "0"],
                             capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([sys.executable, script, "stop", "--state-dir", state], capture_output=True, timeout=60)


def test_the_sql_workload_leaves_the_ground_truth_in_postgres(postgres, tmp_path):
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
