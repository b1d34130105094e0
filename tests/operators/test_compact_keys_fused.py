"""The row and group keys of a compact change in one call (engine/operators/compact_keys.py) are
the key functions' of a change dict: the same keys, and a failure where either key fails, on
hand-made rows of Debezium changes (columns missing, null, of other types)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.compact_keys import _over_arguments
from engine.operators.merge_transactions import MergeTransactions

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
DOMAIN_ROW = ("table + ':' + if(table == 'order_stop', concat(coalesce(after.order_id, before.order_id), '/', "
              "coalesce(after.stop_id, before.stop_id)), str(coalesce(after.id, before.id)))")
GROUP = "if(table == 'orders', coalesce(after.id, before.id), coalesce(after.order_id, before.order_id))"
CONFIGS = [{"row": DOMAIN_ROW, "group": GROUP}, {"row": DOMAIN_ROW},
           {"row": "table + ':' + str(coalesce(after.id, before.id) * 1)", "group": GROUP},  # fails on text ids
           {"group": "coalesce(after.id, before.id) * if(coalesce(after.note, before.note) == 'y', 'n', 2)"},
           {"row": "after", "group": "before.id"},  # a whole row as a key: its text
           {"row": "str(after.id) + table", "group": "coalesce(after.when, before.when)"}]
VALUES = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["1", "y", "a/b", "orders", ""]), st.booleans(),
                   st.floats(allow_nan=False, width=32), st.lists(st.integers(0, 2), max_size=2),
                   st.dictionaries(st.sampled_from(["id", "x"]), st.integers(0, 2), max_size=2))
ROWS = st.one_of(st.none(), st.dictionaries(st.sampled_from(["id", "order_id", "stop_id", "note", "when"]), VALUES,
                                            max_size=5))


def outcome(function, *arguments):
    try:
        return "ok", repr(function(*arguments))  # (repr: 1 and True differ)
    except Exception as exc:  # noqa: BLE001
        return "failed", type(exc).__name__


@PROPERTY
@given(st.sampled_from(CONFIGS), st.sampled_from(["orders", "order_stop", "notes", ""]), ROWS, ROWS)
def test_both_keys_in_one_call_are_the_key_functions(config, table, before, after):
    merge = MergeTransactions("merge", config, None)
    both = merge.compact_keys()
    assert callable(both)
    row, group = merge.key_functions()
    group = group or row  # (the row's key for both without ``group``)
    change = {"table": table, "before": before, "after": after}
    separate = outcome(lambda: (row(change), group(change)))
    together = outcome(both, table, before, after)
    assert together[0] == separate[0] and (together[0] == "failed" or together == separate)


def test_the_domain_flows_keys_are_written_out_over_the_arguments():
    merge = MergeTransactions("merge", {"row": DOMAIN_ROW, "group": GROUP}, None)
    assert merge.compact_keys().__code__.co_varnames[:3] == ("e_table", "e_before", "e_after")
    for expression in (merge.row, merge.group_by):
        written = _over_arguments(expression.strict()[0])
        assert written is not None and "e[" not in written
    assert _over_arguments("_path(e, ('after', 'id'))") is None  # the event read otherwise: the key functions
    assert _over_arguments("e['lsn']") is None and _over_arguments("e_table + e['table']") is None
