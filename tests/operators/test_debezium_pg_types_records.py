"""The debezium step on records copied from what the real stack (PostgreSQL 15, Debezium 3.1.3,
pgoutput, Kafka's JsonConverter; tests/integration/test_debezium_pg_types.py) sent for
PostgreSQL values the step read wrongly before:

* unchanged TOAST values (REPLICA IDENTITY DEFAULT) whose placeholder is not the text itself:
  an ``hstore`` (``{"__debezium_unavailable_value":"__debezium_unavailable_value"}`` in json
  mode, that map in map mode), a ``bytea`` (the placeholder's bytes, base64), a ``bytea[]``
  (a list of that), a ``uuid[]`` (a list of the name-based UUID of the placeholder's bytes):
  each was decoded as a value the sinks then wrote over the row's real one;
* ``'infinity'`` / ``'-infinity'`` dates read through JDBC (every date of an initial snapshot,
  and ``date[]`` items in snapshots and streaming): the epoch day of java.sql.Date's
  infinity, year 292278994, cut to 32 bits (one more with a JVM east of UTC), dead letters;
* ``'-infinity'`` in a ``timestamptz[]``: ``+292269055-12-02T23:00:00.000000Z``, a dead letter;
* a DOUBLE PRECISION of ``4.9E-324`` (Java's text of the smallest double, not its shortest), which
  the decode step reads exactly as a Decimal: it stayed one.
"""

import copy
import json
from decimal import Decimal

import pytest

from engine.infinite_dates import DATE_INFINITY, DATE_MINUS_INFINITY
from engine.operators.debezium import Debezium
from engine.operators.decode import Decode
from engine.records import RawBatch
from engine.unavailable import UNAVAILABLE, carries
from engine.values import INFINITY, MINUS_INFINITY

HSTORE_JSON = {"type": "string", "optional": True, "name": "io.debezium.data.Json", "version": 1, "field": "hs"}
HSTORE_MAP = {"type": "map", "keys": {"type": "string", "optional": False},
              "values": {"type": "string", "optional": True}, "optional": True, "field": "hs"}
BYTEA = {"type": "bytes", "optional": True, "field": "bin"}
BYTEA_ARRAY = {"type": "array", "items": {"type": "bytes", "optional": True}, "optional": True, "field": "abin"}
UUID_ARRAY = {"type": "array", "items": {"type": "string", "optional": True, "name": "io.debezium.data.Uuid",
                                         "version": 1}, "optional": True, "field": "au"}
DATE = {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "version": 1, "field": "dt"}
CONNECT_DATE = {"type": "int32", "optional": True, "name": "org.apache.kafka.connect.data.Date", "version": 1,
                "field": "dt"}
DATE_ARRAY = {"type": "array", "items": {"type": "int32", "optional": True, "name": "io.debezium.time.Date",
                                         "version": 1}, "optional": True, "field": "ad"}
ZONED_ARRAY = {"type": "array", "items": {"type": "string", "optional": True,
                                          "name": "io.debezium.time.ZonedTimestamp", "version": 1},
               "optional": True, "field": "ats"}
ZONED = {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "version": 1, "field": "tstz"}

# as Debezium 3.1.3 sent them (UnchangedToastedPlaceholder; java.sql.Date / Timestamp of pgjdbc's infinities)
HSTORE_PLACEHOLDER = '{"__debezium_unavailable_value":"__debezium_unavailable_value"}'
BYTES_PLACEHOLDER = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="
UUID_PLACEHOLDER = "b68a35a7-17ad-35b3-af2a-ae46edb4545a"
JDBC_INFINITY, JDBC_MINUS_INFINITY = -622191234, -625821272  # a JVM in UTC (or west of it)
JDBC_MINUS_INFINITY_TEXT = "+292269055-12-02T23:00:00.000000Z"


def record(columns, after, op="u"):
    """A change of table ``t`` (REPLICA IDENTITY DEFAULT: an update without ``before``)."""
    row = {"type": "struct", "optional": True, "name": "pgt.public.t.Value",
           "fields": [{"type": "int32", "optional": False, "field": "id"}, *columns]}
    schema = {"type": "struct", "name": "pgt.public.t.Envelope", "version": 2,
              "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                         {"type": "struct", "field": "source", "fields": []}, {"type": "string", "field": "op"}]}
    payload = {"before": None, "after": {"id": 11, **after}, "op": op, "ts_ms": 1,
               "source": {"table": "t", "txId": 800, "lsn": 2600}, "transaction": None}
    return {"schema": schema, "payload": payload}


def decoded(records):
    """The ``after`` rows of ``process`` and ``process_owned`` (which must agree); no dead letter."""
    oks, deads = Debezium("cdc", {}, None).process(records)
    owned, owned_deads = Debezium("cdc", {}, None).process_owned(copy.deepcopy(records))
    assert [d.error for d in deads] == [] and [d.error for d in owned_deads] == []
    assert owned == oks
    return [event["after"] for event in oks]


# --- unchanged TOAST values --------------------------------------------------------------------

@pytest.mark.parametrize("column, placeholder, value, real", [
    (HSTORE_JSON, HSTORE_PLACEHOLDER, '{"a":"1","b":"x y"}', {"a": "1", "b": "x y"}),
    (HSTORE_MAP, {UNAVAILABLE: UNAVAILABLE}, {"a": "1", "k": None}, {"a": "1", "k": None}),
    (BYTEA, BYTES_PLACEHOLDER, "AP8Q", "AP8Q"),
])
def test_an_unchanged_toast_value_is_the_placeholder_the_sinks_keep(column, placeholder, value, real):
    kept, changed = decoded([record([column], {column["field"]: placeholder, "t": "changed"}),
                             record([column], {column["field"]: value}, op="c")])
    assert kept[column["field"]] == UNAVAILABLE and carries(kept)  # the sinks keep the stored value
    assert changed[column["field"]] == real and not carries(changed)


@pytest.mark.parametrize("column, placeholder, value", [
    (BYTEA_ARRAY, [BYTES_PLACEHOLDER], ["AP8=", None]),
    (UUID_ARRAY, [UUID_PLACEHOLDER], ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None]),
])
def test_an_unchanged_toast_array_is_the_placeholder_list_the_sinks_keep(column, placeholder, value):
    kept, changed = decoded([record([column], {column["field"]: placeholder}),
                             record([column], {column["field"]: value}, op="c")])
    assert kept[column["field"]] == [UNAVAILABLE] and carries(kept)
    assert changed[column["field"]] == value and not carries(changed)


def test_the_json_placeholder_of_an_hstore_is_not_remembered_as_plain_json():
    once, again = decoded([record([HSTORE_JSON], {"hs": HSTORE_PLACEHOLDER})] * 2)
    assert once["hs"] == again["hs"] == UNAVAILABLE


# --- infinities read through JDBC --------------------------------------------------------------

@pytest.mark.parametrize("column", [DATE, CONNECT_DATE])
def test_a_snapshots_infinite_dates_are_the_engines_infinite_dates(column):
    rows = decoded([record([column], {"dt": days}, op="r")
                    for days in (JDBC_INFINITY, JDBC_MINUS_INFINITY, JDBC_INFINITY + 1, JDBC_MINUS_INFINITY + 1,
                                 -2147472692, 19787)])
    assert [row["dt"] for row in rows][:5] == [DATE_INFINITY, DATE_MINUS_INFINITY, DATE_INFINITY,
                                                DATE_MINUS_INFINITY, DATE_INFINITY]
    assert str(rows[5]["dt"]) == "2024-03-05"


def test_infinite_dates_in_a_date_array_are_the_engines_infinite_dates():
    [row] = decoded([record([DATE_ARRAY], {"ad": [JDBC_INFINITY, None, JDBC_MINUS_INFINITY, 19787]}, op="c")])
    assert row["ad"][:3] == [DATE_INFINITY, None, DATE_MINUS_INFINITY] and str(row["ad"][3]) == "2024-03-05"


def test_minus_infinity_in_a_timestamptz_array_is_minus_infinity():
    [row] = decoded([record([ZONED_ARRAY], {"ats": ["infinity", JDBC_MINUS_INFINITY_TEXT, None]}, op="c")])
    assert row["ats"] == [INFINITY, MINUS_INFINITY, None]
    [row] = decoded([record([ZONED], {"tstz": JDBC_MINUS_INFINITY_TEXT}, op="r")])
    assert row["tstz"] is MINUS_INFINITY


def test_other_out_of_range_values_are_still_dead_letters():
    records = [record([DATE], {"dt": JDBC_INFINITY + 2}, op="c"),
               record([ZONED_ARRAY], {"ats": ["+292269055-12-03T23:00:00.000000Z"]}, op="c")]
    oks, deads = Debezium("cdc", {}, None).process(records)
    assert oks == [] and [d.error.split(":")[0] for d in deads] == [
        "cannot decode field 'after.dt' value -622191232",
        "cannot decode field 'after.ats' value ['+292269055-12-03T23"]


# --- doubles Java writes in more digits than their shortest text -------------------------------

def test_a_double_java_writes_as_4_9e_324_is_the_double_not_the_decode_steps_exact_decimal():
    double = {"type": "double", "optional": True, "field": "d"}
    doubles = {"type": "array", "items": {"type": "double", "optional": True}, "optional": True, "field": "af"}
    point = {"type": "struct", "fields": [{"type": "double", "optional": False, "field": "x"},
                                          {"type": "double", "optional": False, "field": "y"}],
             "optional": True, "name": "io.debezium.data.geometry.Point", "version": 1, "field": "pt"}
    text = json.dumps(record([double, doubles, point], {}, op="c")).replace(
        '"after": {"id": 11}', '"after": {"id": 11, "d": 4.9E-324, "af": [4.9E-324, 2.82879384806159008E17, 0.5],'
                               ' "pt": {"x": 4.9E-324, "y": 1.5}}')
    events, deads = Decode("source").process(RawBatch([text.encode()], "t", offsets=[0]))
    assert deads == [] and type(events[0]["payload"]["after"]["d"]) is Decimal  # read exactly, as the text is
    [row] = decoded(events)
    assert row["d"] == 5e-324 and row["af"] == [5e-324, 2.82879384806159e17, 0.5] and row["pt"]["x"] == 5e-324
    assert {type(v) for v in (row["d"], *row["af"], row["pt"]["x"])} == {float}
