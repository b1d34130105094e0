"""Debezium.process_owned (rows converted in place, engine/compiler/ownership.py) gives exactly
``process``'s events and dead letters, and leaves what it must not change as it was: an event
it dead-letters, and a Connect schema object shared by many envelopes (as connect_json.py
shares it)."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.debezium import Debezium
from tests.operators.test_debezium_poison import ENVELOPE, ROW, b64, enveloped, mutated_records, payload
from tests.operators.test_debezium_row_code import shown, updates, values

CONFIGS = [{}, {"on_error": "null"}, {"decimal": "string"}, {"fields": {"after.note": "int"}}]


def _as_decoded(record, shared_schema):
    """``record`` as decode gives it: an envelope with the usual schema shares one object."""
    if isinstance(record, dict) and record.get("schema") == ENVELOPE:
        return {**record, "schema": shared_schema}
    return record


@st.composite
def tricky(draw):
    """A create, update or delete whose rows hold wrong, huge or unicode values anywhere,
    with or without its row columns, before and after sometimes the very same object."""
    op = draw(st.sampled_from(["c", "u", "d", "r"]))
    rows = []
    for present in (op in "ud", op in "cur"):
        row = dict(ROW) if present or draw(st.booleans()) else None
        if row is not None:
            for key in draw(st.lists(st.sampled_from(sorted(ROW)), max_size=3)):
                row[key] = draw(st.one_of(values, st.text(alphabet="é€𝄞\x00\u2028", max_size=4),
                                          st.sampled_from(["%%%=", "QUJD", b64(10 ** 40)])))
            for key in draw(st.lists(st.sampled_from(sorted(ROW)), max_size=1)):
                row.pop(key, None)
        rows.append(row)
    before, after = rows
    if op == "u" and before is not None and draw(st.booleans()):
        after = before  # one object twice: never converted in place
    record = payload(op, before=before, after=after)
    return enveloped(record) if draw(st.booleans()) else record


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(tricky(), updates(), mutated_records()), min_size=1, max_size=8),
       st.sampled_from(CONFIGS))
def test_owned_gives_what_process_gives_and_changes_no_failed_event_nor_shared_schema(records, config):
    shared = copy.deepcopy(ENVELOPE)
    batch = [_as_decoded(r, shared) for r in records]
    pristine = copy.deepcopy(batch)  # (deepcopy keeps the sharing: one schema, a row twice)
    expected = Debezium("cdc", config, None).process(copy.deepcopy(batch))
    oks, deads = Debezium("cdc", config, None).process_owned(batch)
    assert shown(oks) == shown(expected[0])
    assert [d.error for d in deads] == [d.error for d in expected[1]]
    assert [shown(d.event) for d in deads] == [shown(d.event) for d in expected[1]]
    where = {id(event): index for index, event in enumerate(batch)}
    for dead in deads:
        assert repr(dead.event) == repr(pristine[where[id(dead.event)]])  # the event as it came
    assert repr(shared) == repr(ENVELOPE)  # the schema every envelope shares


def test_rows_are_converted_in_place_and_reused():
    before, after = dict(ROW), dict(ROW, note="second")
    batch = [enveloped(payload("u", before=before, after=after)), payload("c", after=dict(ROW))]
    oks, deads = Debezium("cdc", {}, None).process_owned(batch)
    assert not deads and oks[0]["before"] is before and oks[0]["after"] is after
    assert oks[0]["after"]["weight"] is oks[0]["before"]["weight"]  # unchanged: before's value
    assert shown(oks) == shown(Debezium("cdc", {}, None).process([enveloped(payload("u", before=dict(ROW),
                                                                                    after=dict(ROW, note="second"))),
                                                                  payload("c", after=dict(ROW))])[0])


def test_a_failing_column_leaves_both_rows_as_they_came():
    before, after = dict(ROW), dict(ROW, day="not a day", weight=b64(5))
    event = enveloped(payload("u", before=before, after=after))
    pristine = copy.deepcopy(event)
    oks, deads = Debezium("cdc", {}, None).process_owned([event])
    assert oks == [] and deads[0].event is event and event == pristine
    assert deads[0].error.startswith("cannot decode field 'after.day'")


def test_a_bad_envelope_field_after_good_rows_leaves_the_rows_as_they_came():
    event = enveloped(payload("c", after=dict(ROW), ts_ms="soon"))
    pristine = copy.deepcopy(event)
    oks, deads = Debezium("cdc", {}, None).process_owned([event])
    assert oks == [] and event == pristine and "ts_ms" in deads[0].error
