"""`generate tms --snapshot-after N --key-moves`: the CLI reaches the simulator's snapshot phase
and key moves, and the shipped file topologies turn that workload into the truth."""

import json

import duckdb

from cli.main import main
from tests.test_velocity_golden import TABLES, rows


def test_snapshot_and_key_moves_from_the_command_line(tmp_path, monkeypatch):
    tms = tmp_path / "tms"
    assert main(["generate", "tms", "--orders", "20", "--seed", "4", "--out", str(tms),
                 "--snapshot-after", "10", "--key-moves"]) == 0
    reads = [json.loads(line) for line in (tms / "technical" / "transport_order.jsonl").read_text().splitlines() if line != "null"]
    reads = [e for e in reads if e.get("payload", e).get("op") == "r"]
    assert reads and all(e.get("payload", e)["source"]["snapshot"] not in (None, "false") for e in reads)
    monkeypatch.setenv("VF_TMS", str(tms))
    monkeypatch.setenv("VF_OUT", str(tmp_path / "out"))
    for topology in ("transport_order_domain", "pickup_domain", "trip_domain", "fast_storage"):
        assert main(["run", "-q", f"topologies/velocity/{topology}.yaml"]) == 0, topology
    con = duckdb.connect(str(tmp_path / "out" / "fast_storage.duckdb"), read_only=True)
    for table in TABLES:
        truth = [json.loads(x) for x in (tms / "truth" / "tables" / f"{table}.jsonl").read_text().splitlines()]
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        assert rows([dict(zip(names, r)) for r in cursor.fetchall()], table) == rows(truth, table), table
