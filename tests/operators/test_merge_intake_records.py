"""merge_transactions' intake tests each event for an op before reading it as a change once a
first event of the batch was not one (a transaction record: no KeyError raised and caught per
record): every event is still taken as reading it does, state, output and dead letters."""

import copy
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.keyed import Events
from engine.operators.merge_transactions import MergeTransactions
from tests.operators.test_merge_intake import reference_add

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _change(tx, n, op="c"):
    return {"op": op, "before": None, "after": {"id": n, "order_id": 1}, "table": "note", "tx_id": tx, "lsn": n,
            "ts_ms": 1, "source": {"snapshot": "false"}}


def _state(batch, markers=True, general=False):
    """What ``add`` makes of ``batch`` (``general``: test_merge_intake's reference, each event
    through the general path)."""
    merge = MergeTransactions("merge", {"group": "after.order_id", "markers": markers}, None)
    logic = merge.logic()
    events = Events(batch)
    events.key = "*"
    out, dead = reference_add(logic, events, T0) if general else logic.add(events, T0)
    return out, [(repr(d.event), d.error) for d in dead], logic.s


others = st.sampled_from([{"status": "BEGIN", "id": "1:0"}, {"status": "END", "id": "1:9", "event_count": 2},
                          {"status": "END", "id": "2:9", "event_count": 1}, {"status": "END"}, {"x": 1}, 5, "op",
                          [1], None, {"op": "c"}])
events = st.lists(st.one_of(others, st.builds(_change, st.sampled_from(["1", "2"]), st.integers(0, 3),
                                              st.sampled_from(["c", "u", "r"]))), max_size=10)


@PROPERTY
@given(events, st.booleans())
def test_a_batch_after_a_record_that_is_no_change_is_the_general_path_event_by_event(batch, markers):
    """Records, values that are not objects (5, a text, a list: each read raises) and changes, in
    any order: the state, output and dead letters of test_merge_intake's reference."""
    assert _state(copy.deepcopy(batch), markers) == _state(copy.deepcopy(batch), markers, general=True)


def test_values_that_are_no_objects_after_a_record_are_dead_letters():
    out, deads, s = _state([{"status": "BEGIN", "id": "1:0"}, 5, "op", [1], _change("1", 1),
                            {"status": "END", "id": "1:9", "event_count": 1}])
    assert [d[0] for d in deads] == ["5", "'op'", "[1]"]
    assert len(out) == 1 and not s.open
