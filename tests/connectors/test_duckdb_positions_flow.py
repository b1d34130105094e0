"""A compiled flow: domain events -> unnest -> micro_batch (2 chunks) -> DuckDB tables, with a
row moving from one domain key to another inside one batch period. The two keys land in
different chunks, each released as its own batch; whichever chunk is written first, the
Fast Storage ends with the row's newest state (positions, engine/connectors/duckdb_positions)."""

import json
import zlib

import duckdb
import pytest

from engine.compiler import compile_topology
from engine.operators.map import key_text
from engine.runtime.runner import RunOptions, run_dataflow
from engine.topology.validate import validate_text

TOPOLOGY = """\
version: 1
name: positions
sources:
  domain: {{file: {{path: "{dir}/domain.jsonl"}}}}
steps:
  - id: row-changes
    unnest: {{field: changes, as: null, keep: [tx_id, key, domain, position]}}
  - id: micro-batches
    micro_batch: {{every: 5s, chunks: 2, key: "domain + ':' + key"}}
sinks:
  fast-storage:
    from: micro-batches
    duckdb:
      path: "{dir}/fast.duckdb"
      tables:
        handling_unit: {{key: [id], columns: {{id: str, order_id: str, status: str}}}}
        leg_order: {{key: [leg_id, order_id], columns: {{leg_id: str, order_id: str, units: int}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def chunk(key):
    return zlib.crc32(key_text(f"transport_order:{key}").encode()) % 2


def event(tx, key, lsn, changes):
    for seq, change in enumerate(changes):
        change.setdefault("lsn", lsn - len(changes) + seq + 1)
        change.setdefault("seq", seq)
    return {"tx_id": str(tx), "key": key, "domain": "transport_order", "position": lsn, "changes": changes}


def unit(order, status):
    return {"id": "X", "order_id": order, "status": status}


def run(tmp_path, events):
    (tmp_path / "domain.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    result = validate_text("positions.yaml", TOPOLOGY.format(dir=tmp_path), env={})
    assert result.ok, [d.message for d in result.diagnostics]
    run_dataflow(compile_topology(result.topology), RunOptions())
    assert not (tmp_path / "dead.jsonl").exists()
    con = duckdb.connect(str(tmp_path / "fast.duckdb"))
    try:
        return (con.execute("SELECT * FROM handling_unit").fetchall(),
                con.execute("SELECT * FROM leg_order ORDER BY order_id").fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("old, new", [("A", "D"), ("D", "A")], ids=["old-key-in-chunk-0", "old-key-in-chunk-1"])
def test_a_row_moving_between_chunks_in_one_period_ends_in_its_newest_state(tmp_path, old, new):
    assert chunk(old) != chunk(new)
    events = [
        event(1, old, 100, [{"table": "handling_unit", "op": "c", "before": None, "after": unit(old, "NEW")},
                            {"table": "leg_order", "op": "c", "before": None,
                             "after": {"leg_id": "L1", "order_id": old, "units": 1}}]),
        event(2, old, 200, [{"table": "handling_unit", "op": "u", "before": unit(old, "NEW"),
                             "after": unit(old, "LOADED")}]),
        # the unit and the leg's order link move to the other order (a key change of leg_order)
        event(3, new, 300, [{"table": "handling_unit", "op": "u", "before": unit(old, "LOADED"),
                             "after": unit(new, "LOADED")},
                            {"table": "leg_order", "op": "u", "before": {"leg_id": "L1", "order_id": old, "units": 1},
                             "after": {"leg_id": "L1", "order_id": new, "units": 1}}]),
        # and under the old order, the (moved) unit's older update is repeated: a replay
        event(2, old, 200, [{"table": "handling_unit", "op": "u", "before": unit(old, "NEW"),
                             "after": unit(old, "LOADED")}]),
    ]
    units, legs = run(tmp_path, events)
    assert units == [("X", new, "LOADED")]
    assert legs == [("L1", new, 1)]


def test_changes_without_their_own_lsn_use_the_domain_events_position(tmp_path):
    stale = {"table": "handling_unit", "op": "u", "before": unit("A", "NEW"), "after": unit("A", "STALE")}
    fresh = {"table": "handling_unit", "op": "u", "before": unit("A", "NEW"), "after": unit("D", "FRESH")}
    events = [{"tx_id": "2", "key": "D", "domain": "transport_order", "position": 300, "changes": [fresh]},
              {"tx_id": "1", "key": "A", "domain": "transport_order", "position": 200, "changes": [stale]}]
    units, _ = run(tmp_path, events)
    assert units == [("X", "D", "FRESH")]
