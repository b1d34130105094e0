"""Row changes through a whole topology: merge transactions, unnest, micro-batch into several
DuckDB tables in one transaction per batch, and previous-vs-new comparison."""


def change(tx, table, op, before=None, after=None):
    return {"tx_id": tx, "table": table, "op": op, "before": before, "after": after, "lsn": tx * 100, "ts_ms": tx}


ORDER = {"id": 1, "status": "NEW"}
CHANGES = [
    change(1, "transport_order", "c", None, ORDER),
    change(1, "note", "c", None, {"id": 10, "order_id": 1, "text": "fragile"}),
    change(2, "note", "d", {"id": 10, "order_id": 1, "text": "fragile"}, None),  # edit as DELETE + INSERT
    change(2, "note", "c", None, {"id": 10, "order_id": 1, "text": "very fragile"}),
    change(3, "transport_order", "u", ORDER, {"id": 1, "status": "PLANNED"}),
    change(3, "transport_order", "u", {"id": 1, "status": "PLANNED"}, {"id": 1, "status": "DEPARTED"}),
    change(4, "note", "c", None, {"id": 11, "order_id": 1, "text": "tmp"}),
    change(4, "note", "d", {"id": 11, "order_id": 1, "text": "tmp"}, None),  # nets to nothing
]

TOPOLOGY = """\
version: 1
name: changes
sources:
  changes: {{file: {{path: "{dir}/changes.jsonl"}}}}
steps:
  - id: merged
    merge_transactions:
      group: "coalesce(after.order_id, before.order_id, after.id, before.id)"
  - id: rows
    unnest: {{field: changes, as: null, keep: [tx_id]}}
  - id: batched
    micro_batch: {{every: 1s, key: "coalesce(after.id, before.id)"}}
  - id: order-changes
    from: merged
    filter: "ops.transport_order is not null"
  - id: orders
    map: {{fields: {{order_id: key, status: "changes[0].after.status", tx: tx_id}}}}
  - id: compared
    with_previous: {{key: order_id}}
  - id: events
    route:
      when: {{departed: "status == 'DEPARTED' and coalesce(previous.status, '') != 'DEPARTED'"}}
sinks:
  fast-storage:
    from: batched
    duckdb:
      path: "{dir}/fast.duckdb"
      tables:
        transport_order: {{key: [id], columns: {{id: int, status: str}}}}
        note: {{key: [id], columns: {{id: int, order_id: int, text: str}}}}
  merged-out: {{from: merged, file: {{path: "{dir}/merged.jsonl"}}}}
  departed: {{from: events.departed, file: {{path: "{dir}/departed.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_changes_become_merged_events_tables_and_business_events(flow):
    flow.write("changes.jsonl", CHANGES)
    ran = flow.run(TOPOLOGY)
    merged = ran.rows("merged-out")
    assert [(m["tx_id"], m["ops"]) for m in merged] == [
        ("1", {"transport_order": "c", "note": "c"}), ("2", {"note": "u"}), ("3", {"transport_order": "u"})]
    assert merged[2]["changes"][0]["before"] == ORDER and merged[2]["changes"][0]["merged"] == 2
    assert ran.table("fast-storage", "SELECT * FROM transport_order") == [(1, "DEPARTED")]
    assert ran.table("fast-storage", "SELECT * FROM note") == [(10, 1, "very fragile")]
    assert [(d["order_id"], d["tx"]) for d in ran.rows("departed")] == [("1", "3")]
    assert ran.dead == []


POISON_TOPOLOGY = """\
version: 1
name: poison-changes
sources:
  changes: {{file: {{path: "{dir}/changes.jsonl"}}}}
steps:
  - id: merged
    merge_transactions: {{markers: true, group: "int(after.code)"}}
sinks:
  out: {{from: merged, file: {{path: "{dir}/merged.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def test_malformed_end_records_and_unmergeable_rows_become_dead_letters_and_the_flow_goes_on(flow):
    end = {"status": "END", "id": "1:100", "event_count": "x", "data_collections": []}  # unreadable counts
    lines = [end, change(1, "note", "c", None, {"id": 1, "code": "7"}), change(1, "note", "c", None, {"id": 2, "code": "y"}),
             {"status": "END", "id": None}, change(2, "note", "u", {"id": 1, "code": "7"}, "oops")]
    flow.write("changes.jsonl", lines)
    ran = flow.run(POISON_TOPOLOGY)
    assert [(m["tx_id"], m["key"]) for m in ran.rows("out")] == [("1", "7")]  # released at the end of the input
    dead = sorted((d["step"], d["error"][:48], d["event"]) for d in ran.dead)
    assert dead == [("merged", "'after' is not an object: str", lines[4]),
                    ("merged", "END record of transaction 1: event_count is not ", lines[0]),
                    ("merged", "group: invalid literal for int() with base 10: '", lines[2]),  # released by flush()
                    ("merged", "transaction record without a usable id: None", lines[3])]
