"""``merge_transactions``' net change of one row over Debezium's unchanged-TOAST placeholders and
TRUNCATE records, as the PostgreSQL connector sends them.

An UPDATE that leaves a large value unchanged carries ``__debezium_unavailable_value`` (or its
array forms) in ``after``, not the value the transaction's INSERT or earlier UPDATE wrote: the
net change must hold the written value. A TRUNCATE has no row: its net change is an error (a
dead letter naming the table), never silently nothing."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.transaction_net import net_change
from engine.unavailable import UNAVAILABLE, UNAVAILABLE_ARRAYS

PLACEHOLDERS = [UNAVAILABLE, *UNAVAILABLE_ARRAYS]
values = st.one_of(st.text(max_size=3), st.lists(st.integers(0, 3), max_size=2), st.none())
rows = st.fixed_dictionaries({"id": st.just(1), "a": values, "b": values})
# a row's life in one transaction: (op, after, which fields the update leaves unchanged and hides)
steps = st.lists(st.tuples(st.sampled_from(["c", "u", "u", "d"]), rows,
                           st.lists(st.sampled_from(PLACEHOLDERS + [None]), min_size=2, max_size=2)),
                 min_size=1, max_size=6)


def sequence(plan, before):
    """(the changes with every value, the same with unchanged values hidden where an UPDATE may hide them)."""
    full, hidden, current = [], [], before
    for op, row, hide in plan:
        if op == "c" and current is not None or op in ("u", "d") and current is None:
            continue  # not a sequence PostgreSQL can make: an insert of a row that exists, ...
        after = None if op == "d" else dict(row)
        full.append({"table": "t", "op": op, "before": current, "after": after, "lsn": len(full)})
        shown = after
        if op == "u":  # only an UPDATE carries placeholders, for values it left unchanged
            shown = dict(after)
            for name, placeholder in zip(("a", "b"), hide, strict=True):
                if placeholder is not None and after[name] == current[name]:
                    shown[name] = placeholder
        hidden.append({**full[-1], "after": shown})
        current = after
    return full, hidden


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(steps, st.one_of(st.none(), rows))
def test_placeholders_after_a_value_written_in_the_transaction_net_to_that_value(plan, before):
    full, hidden = sequence(plan, before)
    if not full:
        return
    if before is None or full[0]["op"] != "u":  # the row's value before the transaction is not in it
        assert net_change(hidden) == net_change(full)
    else:  # a first UPDATE's placeholder has no value in the transaction to take: kept as sent
        got, want = net_change(hidden), net_change(full)
        if want is None or got is None:
            return
        for name in ("a", "b"):
            if got["after"] is not None and got["after"][name] in PLACEHOLDERS:
                assert want["after"][name] == before[name]


def test_an_insert_then_an_update_leaving_its_large_value_unchanged_keeps_the_value():
    big = "x" * 3000
    changes = [{"table": "t", "op": "c", "before": None, "after": {"id": 1, "v": big, "s": "new"}, "lsn": 1},
               {"table": "t", "op": "u", "before": None, "after": {"id": 1, "v": UNAVAILABLE, "s": "done"}, "lsn": 2}]
    net = net_change(changes)
    assert net["op"] == "c" and net["after"] == {"id": 1, "v": big, "s": "done"}


def test_a_placeholder_after_a_delete_and_insert_takes_the_inserted_value():
    changes = [{"table": "t", "op": "u", "before": {"id": 1, "v": "old"}, "after": {"id": 1, "v": "mid"}, "lsn": 1},
               {"table": "t", "op": "d", "before": {"id": 1, "v": "mid"}, "after": None, "lsn": 2},
               {"table": "t", "op": "c", "before": None, "after": {"id": 1, "v": "new"}, "lsn": 3},
               {"table": "t", "op": "u", "before": None, "after": {"id": 1, "v": UNAVAILABLE}, "lsn": 4}]
    assert net_change(changes)["after"] == {"id": 1, "v": "new"}


def test_a_truncate_is_an_error_naming_its_table():
    with pytest.raises(ValueError, match="TRUNCATE of table 'trip'"):
        net_change([{"table": "trip", "op": "t", "before": None, "after": None, "lsn": 5}])
