"""The stream-table join's per-key logic and grouping (engine/operators/joins/stream_table.py),
driven directly: upserts and deletes, left and inner, the bounded wait, row changes, bad input."""

import pickle
from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import ConfigError
from engine.operators.joins.stream_table import NULL_KEY, StreamTableJoin

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


def join(**config):
    options = {"table": "t", "on": "customer_id", "table_key": "id", "fields": {"name": "name"}, **config}
    return StreamTableJoin("j", options, None, {"table": None})


def drive(step, feed, now=T0):
    """``feed``: ("e", event) / ("t", table event) in order; the outputs per key, their dead letters,
    and the logic per key (to inspect state)."""
    logics, out, deads = {}, [], []
    for side, event in feed:
        groups, dead = (step.group_events if side == "e" else step.group_table)([event])
        deads += dead
        for key, pairs in groups:
            logic = logics.setdefault(key, step.logic(None))
            emitted, failed = logic.add(pairs, now)
            out += emitted
            deads += failed
    return out, deads, logics


def test_an_event_gets_the_current_row_of_its_key_and_a_later_update_changes_later_events():
    out, deads, _ = drive(join(), [("t", {"id": 1, "name": "ACME"}), ("e", {"o": 1, "customer_id": 1}),
                                   ("t", {"id": 1, "name": "ACME Corp"}), ("e", {"o": 2, "customer_id": 1})])
    assert out == [{"o": 1, "customer_id": 1, "name": "ACME"}, {"o": 2, "customer_id": 1, "name": "ACME Corp"}]
    assert deads == []


def test_left_gives_nulls_without_a_row_inner_drops_the_event():
    feed = [("e", {"o": 1, "customer_id": 7}), ("e", {"o": 2, "customer_id": None})]
    assert drive(join(), feed)[0] == [{"o": 1, "customer_id": 7, "name": None},
                                      {"o": 2, "customer_id": None, "name": None}]
    assert drive(join(how="inner"), feed)[0] == []


def test_a_null_key_is_no_dead_letter_and_matches_nothing():
    groups, deads = join().group_events([{"customer_id": None}])
    assert [key for key, _ in groups] == [NULL_KEY] and deads == []


def test_delete_when_removes_the_key_and_frees_its_state():
    step = join(delete_when="deleted")
    out, _, logics = drive(step, [("t", {"id": 1, "name": "A", "deleted": False}), ("t", {"id": 1, "deleted": True}),
                                  ("e", {"customer_id": 1})])
    assert out == [{"customer_id": 1, "name": None}]
    assert logics["1"].disposable  # nothing held, no row: the compiler forgets the key


def test_row_changes_upsert_the_after_image_and_delete_by_the_before_image():
    step = join(changelog="rows")
    feed = [("t", {"op": "r", "before": None, "after": {"id": 1, "name": "A"}}),
            ("e", {"customer_id": 1}),
            ("t", {"op": "u", "before": {"id": 1, "name": "A"}, "after": {"id": 1, "name": "B"}}),
            ("e", {"customer_id": 1}),
            ("t", {"op": "d", "before": {"id": 1, "name": "B"}, "after": None}),
            ("e", {"customer_id": 1})]
    out, deads, _ = drive(step, feed)
    assert [e["name"] for e in out] == ["A", "B", None] and deads == []


def test_bad_table_events_are_dead_letters_and_leave_the_state_alone():
    step = join(changelog="rows")
    feed = [("t", {"op": "c", "after": {"id": 1, "name": "A"}}),
            ("t", {"op": "x", "after": {"id": 1, "name": "Z"}}),
            ("t", {"op": "u", "after": None}),
            ("t", {"op": "u", "after": {"id": None, "name": "Z"}}),
            ("e", {"customer_id": 1})]
    out, deads, _ = drive(step, feed)
    assert out == [{"customer_id": 1, "name": "A"}]
    assert [d.error for d in deads] == [
        "table: not a row change: op 'x' (c, r, u or d expected)",
        "table: a row change with op 'u' needs 'after' to be the row",
        "table: table_key is null"]
    assert all(d.step == "j" for d in deads)


def test_an_event_whose_key_fails_is_a_dead_letter():
    step = StreamTableJoin("j", {"table": "t", "on": "int(customer_id)", "table_key": "id", "fields": {"n": "name"}},
                           None, {"table": None})
    groups, deads = step.group_events([{"customer_id": "x"}, {"customer_id": "2"}])
    assert [k for k, _ in groups] == ["2"] and len(deads) == 1 and deads[0].error.startswith("on: ")


def test_wait_holds_an_event_until_its_row_arrives_in_arrival_order():
    step = join(wait="10s")
    out, _, logics = drive(step, [("e", {"o": 1, "customer_id": 1}), ("e", {"o": 2, "customer_id": 1})])
    assert out == [] and logics["1"].next_notification() == T0 + timedelta(seconds=10)
    emitted, _ = logics["1"].add(step.group_table([{"id": 1, "name": "A"}])[0][0][1], T0 + timedelta(seconds=3))
    assert [(e["o"], e["name"]) for e in emitted] == [(1, "A"), (2, "A")]
    assert logics["1"].next_notification() is None


def test_wait_expires_into_nulls_for_left_and_nothing_for_inner():
    for how, expected in (("left", [{"o": 1, "customer_id": 1, "name": None}]), ("inner", [])):
        step = join(wait="10s", how=how)
        _, _, logics = drive(step, [("e", {"o": 1, "customer_id": 1})])
        logic = logics["1"]
        assert logic.due(T0 + timedelta(seconds=9)) == ([], [])  # not yet
        assert logic.due(T0 + timedelta(seconds=10)) == (expected, [])
        assert logic.disposable


def test_the_end_of_a_bounded_input_releases_what_waits():
    step = join(wait="1h")
    _, _, logics = drive(step, [("e", {"o": 1, "customer_id": 1})])
    assert logics["1"].flush() == ([{"o": 1, "customer_id": 1, "name": None}], [])


def test_the_state_keeps_only_the_projected_fields_and_survives_a_pickle():
    step = join(wait="1h")
    _, _, logics = drive(step, [("t", {"id": 1, "name": "A", "address": "x" * 1000}),
                                ("e", {"o": 1, "customer_id": 2})])
    restored = {key: step.logic(pickle.loads(pickle.dumps(logic.state()))) for key, logic in logics.items()}
    assert restored["1"].state().row == {"name": "A"}
    assert restored["2"].next_notification() == T0 + timedelta(hours=1)
    assert restored["2"].flush()[0] == [{"o": 1, "customer_id": 2, "name": None}]


def test_as_attaches_the_whole_row_beside_the_fields():
    step = join(**{"as": "customer"})
    out, _, _ = drive(step, [("t", {"id": 1, "name": "A"}), ("e", {"customer_id": 1}), ("e", {"customer_id": 2})])
    assert out == [{"customer_id": 1, "name": "A", "customer": {"id": 1, "name": "A"}},
                   {"customer_id": 2, "name": None, "customer": None}]
    only_row = StreamTableJoin("j", {"table": "t", "on": "c", "table_key": "id", "as": "row"}, None, {"table": None})
    assert drive(only_row, [("e", {"c": 1})])[0] == [{"c": 1, "row": None}]


def test_fields_flow_through_the_join_with_their_types():
    step = StreamTableJoin("j", {"table": "t", "on": "customer_id", "table_key": "id", "fields": {"name": "name"}},
                           {"customer_id": "int", "o": "str"}, {"table": {"id": "int", "name": "str"}})
    assert step.output_fields == {"customer_id": "int", "o": "str", "name": "str"}


@pytest.mark.parametrize("config,path,message", [
    ({"fields": {"name": "nmae"}}, ("fields", "name"), "unknown field 'nmae'"),
    ({"table_key": "idd"}, ("table_key",), "unknown field 'idd'"),
    ({"on": "customer"}, ("on",), "unknown field 'customer'"),
    ({"changelog": "rows", "delete_when": "deleted"}, ("delete_when",), "'delete_when' is for 'changelog: upsert'"),
    ({"wait": "soon"}, ("wait",), "invalid duration 'soon'"),
])
def test_configuration_mistakes_are_located(config, path, message):
    options = {"table": "t", "on": "customer_id", "table_key": "id", "fields": {"name": "name"}, **config}
    with pytest.raises(ConfigError) as caught:
        StreamTableJoin("j", options, {"customer_id": "int"}, {"table": {"id": "int", "name": "str"}})
    assert caught.value.path == path and caught.value.message == message


def test_a_batch_of_upserts_with_one_bad_change_keeps_the_others():
    """The batch function of the upsert changelog, and its one-by-one fallback when a change fails."""
    step = join(table_key="int(id)", delete_when="deleted")
    groups, deads = step.group_table([{"id": "1", "name": "A", "deleted": False}, {"id": "x", "name": "B"},
                                      {"id": None, "name": "C"}, {"id": "2", "deleted": True}])
    assert [(key, [tag for tag, _ in pairs]) for key, pairs in groups] == [("1", [(2, {"name": "A"})]), ("2", [3])]
    assert [d.error for d in deads][1:] == ["table: table_key is null"] and deads[0].error.startswith("table: ")
    groups, deads = step.group_table([{"id": "3", "name": "D", "deleted": None}])  # no failure: the batch function
    assert groups == [("3", [((2, {"name": "D"}), {"id": "3", "name": "D", "deleted": None})])] and deads == []
