"""``debezium`` converts its rows in place (``changes_nested``) only for events owned whole: a
source's, read by it alone (engine/compiler/ownership.py). Where another step or sink reads the
same events, or a step before it made only their top level (``cast``, ``map``), it copies."""

import json

from engine.operators.debezium import Debezium
from tests.compiler.test_ownership import _counting, _owners, _read, _run, _topology
from tests.operators.test_debezium_poison import ROW, enveloped, payload

STEP = "steps:\n  - {{id: changes, debezium: {{}}}}\n"
RAW = '  raw: {{from: orders, file: {{path: "{dir}/raw.jsonl"}}}}\n'
SINK = 'sinks:\n  out: {{from: changes, file: {{path: "{dir}/out.jsonl"}}}}\n'


def test_debezium_owns_a_source_read_by_it_alone_or_through_a_filter(tmp_path):
    alone = STEP + SINK
    filtered = "steps:\n  - {{id: kept, filter: \"op != 't'\"}}\n" + STEP[7:] + SINK
    assert _owners(_topology(tmp_path, alone)) == ["changes"]
    assert _owners(_topology(tmp_path, filtered)) == ["kept", "changes"]


def test_debezium_does_not_own_events_whose_nested_rows_another_step_may_hold(tmp_path):
    shared = STEP + SINK + RAW
    after_cast = "steps:\n  - {{id: typed, cast: {{fields: {{op: str}}}}}}\n" + STEP[7:] + SINK
    after_map = "steps:\n  - {{id: shaped, map: {{fields: {{payload: payload, schema: schema}}}}}}\n" + STEP[7:] + SINK
    assert _owners(_topology(tmp_path, shared)) == []
    # cast and map own their input; the events they make own only their top level
    assert _owners(_topology(tmp_path, after_cast)) == ["typed"]
    assert _owners(_topology(tmp_path, after_map)) == ["shaped"]


def test_a_second_reader_of_the_source_sees_the_rows_as_they_arrived(tmp_path):
    events = [enveloped(payload("u", before=dict(ROW, id=i), after=dict(ROW, id=i, note="x"))) for i in range(20)]
    shared = STEP + SINK + RAW
    calls, patched = _counting(Debezium, "process_owned")
    with patched:
        _run(tmp_path, shared, events)
    assert calls == [] and _read(tmp_path / "raw.jsonl") == json.loads(json.dumps(events))
    assert [e["after"]["weight"] for e in _read(tmp_path / "out.jsonl")] == [2.3] * 20
    (tmp_path / "out.jsonl").unlink()
    with patched:  # the same flow with the step as only reader: in place (the test above is not vacuous)
        _run(tmp_path, STEP + SINK, events)
    assert sum(calls) == 20 and [e["after"]["weight"] for e in _read(tmp_path / "out.jsonl")] == [2.3] * 20
