"""The stream-table join in real flows: validation at file:line:column, `velocity-flow test`
files with several sources, two workers, and its state across a recovery restart."""

import json
import time
from datetime import timedelta

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, run_main

from engine.binding import validate_text
from engine.compiler.joins import build_join
from engine.operators.joins.stream_table import StreamTableJoin, TableRow
from engine.runtime.recovery_store import prepare_recovery_directory
from engine.runtime.runner import RunOptions
from engine.testing.suite import run_file

TOPOLOGY = """\
version: 1
name: enrich
sources:
  orders: {{file: {{path: {dir}/orders.jsonl}}}}
  customers: {{file: {{path: {dir}/customers.jsonl}}}}
steps:
  - id: typed
    from: orders
    map: {{fields: {{order_id: str(order_id), customer_id: str(customer_id)}}}}
  - id: customer-rows
    from: customers
    map: {{fields: {{id: str(id), name: str(name), deleted: "coalesce(deleted, false)"}}}}
  - id: enriched
    from: typed
    join:
      table: customer-rows
      on: customer_id
      table_key: id
      delete_when: deleted
      fields: {{customer_name: name}}
      wait: {wait}
  - id: shaped
    map: {{fields: {{order_id: order_id, who: {who}}}}}
sinks:
  out: {{from: shaped, file: {{path: {dir}/out.jsonl}}}}
dead_letter: {{file: {{path: {dir}/dead.jsonl}}}}
"""


def diagnostics(text):
    return [(d.line, d.column, d.message) for d in validate_text("t.yaml", text).diagnostics]


def test_a_typo_in_a_joined_field_is_a_validate_error_at_its_place():
    good = TOPOLOGY.format(dir="/tmp", wait="1h", who="customer_name")
    assert diagnostics(good) == []
    assert diagnostics(good.replace("customer_name: name", "customer_name: nmae")) == [
        (20, 31, "unknown field 'nmae'")]
    assert diagnostics(good.replace("who: customer_name", "who: customer_nmae")) == [
        (23, 45, "unknown field 'customer_nmae'")]
    assert diagnostics(good.replace("table: customer-rows", "table: customer-row")) == [
        (16, 14, "unknown reference 'customer-row'")]
    assert diagnostics(good.replace("table: customer-rows", "table: enriched")) == [
        (16, 14, "step 'enriched' reads from itself")]
    assert diagnostics(good.replace("table: customer-rows", "table: shaped"))[0][2].startswith("cycle: ")


def test_a_file_run_with_two_workers_enriches_every_order(flow):
    flow.write("customers.jsonl", [{"id": 1, "name": "ACME"}, {"id": 2, "name": "Globex"},
                                   {"id": 2, "deleted": True, "name": None}])
    flow.write("orders.jsonl", [{"order_id": n, "customer_id": n % 4} for n in range(40)])
    outcome = flow.run(TOPOLOGY, RunOptions(workers=2), wait="1h", who="customer_name")
    rows = sorted((int(r["order_id"]), r["who"]) for r in outcome.rows("out"))
    # orders are held until their row comes; at the end of the input what still waits goes on without one
    # (customer 2 may have been deleted before or after its orders arrived: both are valid outcomes)
    assert [r for r in rows if r[0] % 4 == 1] == [(n, "ACME") for n in range(1, 40, 4)]
    assert all(who is None for n, who in rows if n % 4 in (0, 3)) and len(rows) == 40
    assert outcome.dead == []


def test_velocity_flow_test_files_can_test_joins(tmp_path):
    (tmp_path / "enrich.yaml").write_text(TOPOLOGY.format(dir=tmp_path, wait="1h", who="customer_name"))
    (tmp_path / "enrich.test.yaml").write_text(json.dumps({
        "topology": "enrich.yaml",
        "tests": [{
            "name": "orders get their customer's name, a deleted customer none",
            "inputs": {"orders": [{"order_id": 1, "customer_id": 1}, {"order_id": 2, "customer_id": 9}],
                       "customers": [{"id": 1, "name": "ACME"}, {"id": 9, "name": "Gone"},
                                     {"id": 9, "deleted": True, "name": None}]},
            "expect": [{"at": "enriched", "contains": [{"order_id": "1", "customer_name": "ACME"}], "count": 2},
                       {"at": "sink:out", "contains": [{"order_id": "1", "who": "ACME"}]}],
            "dead_letters": []}]}))
    result = run_file(str(tmp_path / "enrich.test.yaml"))
    assert result.passed, [(t.name, t.error, [f.message for f in t.failures]) for t in result.tests]


def _recovering_flow(items, wait=None):
    """Events and table changes in one ordered source (("e"|"t", event) batches), split into the
    join's two inputs, so what comes before an abort is certain."""
    config = {"table": "t", "on": "k", "table_key": "k", "fields": {"v": "v"}}
    if wait:
        config["wait"] = wait
    join = StreamTableJoin("j", config, None, {"table": None})
    out, dead = [], []
    flow = Dataflow("join-recovery")
    tagged = op.input("in", flow, TestingSource(items))
    events = op.flat_map_batch("events", tagged, lambda batches: [[e for s, e in b if s == "e"] for b in batches])
    table = op.flat_map_batch("table", tagged, lambda batches: [[e for s, e in b if s == "t"] for b in batches])
    ok, failed = build_join("j", op.filter("some-events", events, bool), op.filter("some-rows", table, bool),
                            join, None)
    op.output("out", ok, TestingSink(out))
    op.output("dead", failed, TestingSink(dead))
    return flow, out, dead


def test_the_table_survives_a_restart(tmp_path):
    flow, out, dead = _recovering_flow([[("t", {"k": "a", "v": 1})], TestingSource.ABORT(), [("e", {"k": "a"})]])
    prepare_recovery_directory(str(tmp_path))
    recovery = RecoveryConfig(str(tmp_path))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert out == []
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert out == [[{"k": "a", "v": 1}]] and dead == []


def test_an_event_held_for_its_row_survives_a_restart(tmp_path):
    flow, out, dead = _recovering_flow([[("e", {"k": "a", "n": 1})], TestingSource.ABORT(),
                                        [("t", {"k": "a", "v": 2})]], wait="1h")
    prepare_recovery_directory(str(tmp_path))
    recovery = RecoveryConfig(str(tmp_path))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert out == []
    time.sleep(0.05)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert out == [[{"k": "a", "n": 1, "v": 2}]] and dead == []


def test_a_bug_on_one_event_dead_letters_it_and_the_flow_goes_on(tmp_path, monkeypatch):
    """The keyed boundary holds for the join's own fast path (engine/compiler/joins.py)."""
    flow, out, dead = _recovering_flow([[("t", {"k": "a", "v": 1}), ("t", {"k": "b", "v": 2})],
                                        [("e", {"k": "a", "n": 1}), ("e", {"k": "b", "n": 2, "boom": True}),
                                         ("e", {"k": "a", "n": 3})]])
    original = TableRow.add

    def add(self, pairs, now):
        if any(event.get("boom") for _, event in pairs):
            raise RuntimeError("a bug")
        return original(self, pairs, now)

    monkeypatch.setattr(TableRow, "add", add)
    run_main(flow, epoch_interval=timedelta(0))
    assert sorted(e["n"] for batch in out for e in batch) == [1, 3]
    [letter] = [d for batch in dead for d in batch]
    assert letter.event == {"k": "b", "n": 2, "boom": True} and "RuntimeError: a bug" in letter.error
