"""``merge_transactions`` drops a buffered change's Debezium ``source`` and ``transaction``
blocks (``group_events_owned``) only where the compiler gives it events no one else holds
(engine/compiler/ownership.py): a sink reading the same changes sees them whole."""

import copy

from engine.operators.merge_transactions import MergeTransactions
from tests.compiler.test_ownership import _counting, _owners, _read, _run, _topology
from tests.operators.test_debezium_poison import payload

STEPS = ("steps:\n  - {{id: changes, debezium: {{}}}}\n"
         "  - {{id: per-tx, merge_transactions: {{group: \"coalesce(after.order_id, before.order_id)\"}}}}\n")
OUT = 'sinks:\n  out: {{from: per-tx, file: {{path: "{dir}/out.jsonl"}}}}\n'
RAW = '  raw: {{from: changes, file: {{path: "{dir}/raw.jsonl"}}}}\n'


def _change(tx, op, before, after, lsn):
    body = payload(op, before=before, after=after)
    body["source"] = dict(body["source"], txId=tx, lsn=lsn, table="note")
    body["transaction"] = dict(body["transaction"], id=f"{tx}:{lsn}")
    return body


EVENTS = [_change(771, "c", None, {"id": 1, "order_id": 5, "text": "a"}, 10),
          _change(771, "u", {"id": 1, "order_id": 5, "text": "a"}, {"id": 1, "order_id": 5, "text": "b"}, 11),
          _change(771, "c", None, {"id": 2, "order_id": 6, "text": "c"}, 12),
          _change(772, "d", {"id": 2, "order_id": 6, "text": "c"}, None, 20),
          _change(773, "c", None, {"id": 3, "order_id": 5, "text": "d"}, 30)]


def test_the_merge_owns_the_changes_only_when_it_alone_reads_them(tmp_path):
    assert _owners(_topology(tmp_path, STEPS + OUT)) == ["changes", "per-tx"]
    assert _owners(_topology(tmp_path, STEPS + OUT + RAW)) == ["changes"]


def test_a_sink_reading_the_changes_too_sees_their_source_and_transaction(tmp_path):
    calls, patched = _counting(MergeTransactions, "group_events_owned")
    with patched:
        _run(tmp_path, STEPS + OUT + RAW, copy.deepcopy(EVENTS))
    raw, shared = _read(tmp_path / "raw.jsonl"), _read(tmp_path / "out.jsonl")
    assert calls == [] and len(raw) == len(EVENTS)
    assert [(e["source"]["txId"], e["transaction"]["id"]) for e in raw] == \
        [(e["source"]["txId"], e["transaction"]["id"]) for e in EVENTS]
    (tmp_path / "out.jsonl").unlink()
    with patched:  # the merge alone: it slims what it buffers, and the domain events are the same
        _run(tmp_path, STEPS + OUT, copy.deepcopy(EVENTS))
    alone = _read(tmp_path / "out.jsonl")
    assert sum(calls) == len(EVENTS) and alone == shared
    assert [(e["tx_id"], e["key"], [c["op"] for c in e["changes"]]) for e in alone] == \
        [("771", "5", ["c"]), ("771", "6", ["c"]), ("772", "6", ["d"]), ("773", "5", ["c"])]


def test_a_row_or_group_reading_the_blocks_keeps_them():
    reads = MergeTransactions("m", {"row": "table + ':' + str(source.lsn)"}, None)
    grouped = MergeTransactions("m", {"group": "transaction.id"}, None)
    neither = MergeTransactions("m", {"group": "after.order_id"}, None)
    assert (reads.slims, grouped.slims, neither.slims) == (False, False, True)
    change = {"op": "c", "before": None, "after": {"id": 1}, "table": "note", "tx_id": "7", "lsn": 3, "ts_ms": 1,
              "source": {"lsn": 3, "snapshot": "false"}, "transaction": {"id": "7:3"}}
    for merge in (reads, grouped, neither):
        event = dict(change)
        groups, _ = merge.group_events_owned([event])
        merge.logic().add(groups[0][1], None)
        assert ("source" in event, "transaction" in event) == (not merge.slims,) * 2
