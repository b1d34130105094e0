"""A compiled flow: domain events -> unnest -> micro_batch (2 chunks) -> DuckDB tables, with a
row moving from one domain key to another inside one batch period. The two keys land in
different chunks, each released as its own batch; whichever chunk is written first, the
Fast Storage ends with the row's newest state (positions, engine/connectors/duckdb_positions)."""

import zlib

import pytest

from engine.operators.map import key_text

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


def run(flow, events):
    flow.write("domain.jsonl", events)
    ran = flow.run(TOPOLOGY)
    assert ran.dead == []
    return (ran.table("fast-storage", "SELECT * FROM handling_unit"),
            ran.table("fast-storage", "SELECT * FROM leg_order ORDER BY order_id"))


@pytest.mark.parametrize("old, new", [("A", "D"), ("D", "A")], ids=["old-key-in-chunk-0", "old-key-in-chunk-1"])
def test_a_row_moving_between_chunks_in_one_period_ends_in_its_newest_state(flow, old, new):
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
    units, legs = run(flow, events)
    assert units == [("X", new, "LOADED")]
    assert legs == [("L1", new, 1)]


def test_changes_without_their_own_lsn_use_the_domain_events_position(flow):
    stale = {"table": "handling_unit", "op": "u", "before": unit("A", "NEW"), "after": unit("A", "STALE")}
    fresh = {"table": "handling_unit", "op": "u", "before": unit("A", "NEW"), "after": unit("D", "FRESH")}
    events = [{"tx_id": "2", "key": "D", "domain": "transport_order", "position": 300, "changes": [fresh]},
              {"tx_id": "1", "key": "A", "domain": "transport_order", "position": 200, "changes": [stale]}]
    units, _ = run(flow, events)
    assert units == [("X", "D", "FRESH")]
