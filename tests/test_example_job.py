"""The main job (README command 1) gives exactly the rows an independent computation expects."""

import json
import pathlib
from decimal import ROUND_HALF_UP, Decimal

import duckdb

from cli.main import main

ROOT = pathlib.Path(__file__).parents[1]
SAMPLES = ROOT / "samples" / "transport_order.jsonl"


def expected_orders():
    """Re-derive the topology's result in plain Python: cast, filter, map, upsert by order id."""
    rows, per_status = {}, {}
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        try:
            weight = Decimal(event["weight_kg"]).quantize(Decimal("0.001"), ROUND_HALF_UP)
        except ArithmeticError:
            continue
        status = event["status"].upper()
        if status == "DRAFT" or weight <= 0:
            continue
        rows[int(event["order_id"])] = (status, weight, weight > 1000, event["destination"]["city"])
        count, total, heaviest = per_status.get(status, (0, Decimal(0), Decimal(0)))
        per_status[status] = (count + 1, total + weight, max(heaviest, weight))
    return rows, per_status


def test_example_topology_runs_and_matches_an_independent_computation(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_OUT", str(tmp_path))
    assert main(["run", "-q", "topologies/examples/transport_orders.yaml"]) == 0
    db = duckdb.connect(str(tmp_path / "velocity.duckdb"))
    rows, per_status = expected_orders()
    found = db.execute("SELECT order_id, status, weight_kg, heavy, city FROM transport_order").fetchall()
    assert {r[0]: r[1:] for r in found} == rows
    stats = db.execute("SELECT status, orders, total_kg, max_kg FROM status_stats").fetchall()
    assert {s[0]: (s[1], Decimal(s[2]), Decimal(s[3])) for s in stats} == per_status
    dead = [json.loads(line) for line in (tmp_path / "dead-letter.jsonl").read_text().splitlines()]
    assert sorted({d["step"] for d in dead}) == ["orders", "parse"]
    assert len(dead) == 4 + sum(1 for i in range(2000) if i % 97 == 0 and i % 499 != 498)
    heavy = [json.loads(line) for line in (tmp_path / "heavy_orders.jsonl").read_text().splitlines()]
    assert heavy and all(Decimal(str(h["weight_kg"])) > 1000 for h in heavy)
