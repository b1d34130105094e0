"""debezium_schema.RowConverters: the code written out per row schema gives what the column
loops (Debezium._decode_row, _decode_after) give, value for value and type for type, and
every failure is the loops' dead letter (or null, with ``on_error: null``)."""

import copy
from datetime import date, datetime, time
from decimal import Decimal
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators import debezium_schema
from engine.operators.debezium import Debezium
from tests.operators.test_debezium_poison import (
    COLUMNS,
    ENVELOPE,
    ROW,
    b64,
    column,
    enveloped,
    mutated_records,
    payload,
)


def _loops_only(convs):
    def fail(*_):
        raise RuntimeError("no row code: the loops")
    return fail, fail


def shown(value):
    """``value`` with every type spelled out (Decimal('2.30') is not Decimal('2.3'))."""
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    if isinstance(value, (Decimal, datetime, date, time, float)):
        return (type(value).__name__, repr(value))
    return value


def both(batch, **config):
    """(outputs, dead letters) of the row code and of the loops, each on its own copy."""
    fast = Debezium("cdc", config, None).process(copy.deepcopy(batch))
    with mock.patch.object(debezium_schema, "_row_code", _loops_only):
        slow = Debezium("cdc", config, None).process(copy.deepcopy(batch))
    return [(shown(oks), [d.error for d in deads]) for oks, deads in (fast, slow)]


def test_the_loops_are_what_the_reference_takes():
    with mock.patch.object(debezium_schema, "_row_code", _loops_only):  # (the code is written at first use)
        convs = debezium_schema.row_converters(COLUMNS, "p")
        try:
            convs.row({})
        except RuntimeError:
            return
    raise AssertionError("the reference would not take the loops")


def test_each_pair_of_functions_is_written_at_its_first_use():
    """Events owned whole take the in-place pair only, copies the other: neither is compiled
    before it is called, and each once."""
    written = []

    def counting(make):
        def write(convs):
            written.append(make.__name__)
            return make(convs)
        return write

    with mock.patch.object(debezium_schema, "_row_code", counting(debezium_schema._row_code)), \
            mock.patch.object(debezium_schema, "_in_place_code", counting(debezium_schema._in_place_code)):
        convs = debezium_schema.row_converters(COLUMNS, "p")
        assert written == []
        row = {name: None for name, _ in convs}
        assert convs.in_place(dict(row)) == row and convs.both(dict(row), dict(row)) == row
        assert written == ["_in_place_code"]
        assert convs.row(dict(row)) == row and convs.after(dict(row), dict(row), dict(row)) == row
        assert written == ["_in_place_code", "_row_code"]


values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2 ** 70, -(10 ** 19), 10 ** 20, 1.0, 1.5, float("nan")]),
    st.text(max_size=6), st.sampled_from([b64(230), b64(-1), "AA==", "2026-11-02T08:00:00.5+02:00", "infinity", "1",
                                          '{"n": 1}', "not base64!"]),
    st.just({"scale": 3, "value": b64(12345)}), st.just([1]), st.just({}),
)


@st.composite
def updates(draw):
    """An update whose before and after images share some values (unchanged columns), differ
    in others, and hold wrong or tricky values anywhere (True for 1, 1.0 for 1, ...)."""
    before, after = dict(ROW), dict(ROW)
    for row in (before, after):
        for key in draw(st.lists(st.sampled_from(sorted(ROW)), max_size=4)):
            row[key] = draw(values)
    for key in draw(st.lists(st.sampled_from(sorted(ROW)), max_size=3)):
        after[key] = before[key]  # unchanged: after takes before's converted value
    for key in draw(st.lists(st.sampled_from(sorted(ROW)), max_size=2)):
        after.pop(key, None)
    for key in draw(st.lists(st.sampled_from(sorted(ROW)), max_size=2)):  # the code reads r[key]: KeyError
        before.pop(key, None)
    record = payload("u", before=before, after=after)
    return enveloped(record) if draw(st.booleans()) else record


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(mutated_records(), updates()), min_size=1, max_size=6), st.booleans())
def test_random_records_decode_as_the_loops_decode_them(batch, to_null):
    fast, slow = both(batch, **({"on_error": "null"} if to_null else {}))
    assert fast == slow


def test_a_column_named_twice_is_converted_as_the_loops_convert_it():
    twice = [column("day", "int32", "io.debezium.time.Date"), column("day", "int32", "io.debezium.time.Date"),
             column("n'\"\\", "int64", "io.debezium.time.MicroTimestamp")]
    rows_schema = [{**ENVELOPE["fields"][0], "fields": twice}, {**ENVELOPE["fields"][1], "fields": twice}]
    schema = {**ENVELOPE, "fields": [*rows_schema, *ENVELOPE["fields"][2:]]}
    rows = [{"day": 20759, "n'\"\\": 1529507596945104}, {"day": date(2026, 1, 1), "n'\"\\": None}]
    batch = [enveloped(payload("u", before=rows[0], after=rows[1]), schema),
             enveloped(payload("u", before=rows[0], after=rows[0]), schema),
             enveloped(payload("c", after=rows[0]), schema)]
    fast, slow = both(batch)
    assert fast == slow and not fast[1], fast


def test_memo_hits_and_misses_give_the_same_values_as_the_loops():
    rows = [dict(ROW, weight=b64(n % 7), created=1529507596945104 + n % 5, day=True if n % 11 == 0 else 20759 + n % 3)
            for n in range(60)]
    batch = [enveloped(payload("c", after=r)) for r in rows] + [enveloped(payload("u", before=rows[0], after=r))
                                                                for r in rows]
    for to_null in (False, True):
        fast, slow = both(batch, **({"on_error": "null"} if to_null else {}))
        assert fast == slow
