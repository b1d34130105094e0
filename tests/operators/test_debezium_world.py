"""The debezium step on values as Debezium's PostgreSQL connector really writes them (hand-made
records, not the simulator), where they are easy to get wrong:

* 'infinity' / '-infinity' in each time unit: Debezium turns them into a date-time first, then
  into the column's unit (``PostgresValueConverter.POSITIVE_INFINITY_LOCAL_DATE_TIME``, the
  micro sentinel 9223372036825200000 µs): TIMESTAMP(0..3) columns (``io.debezium.time.Timestamp``,
  Connect's ``Timestamp`` in ``time.precision.mode=connect``) carry 9223372036825200 /
  -9223372036832400 ms; ``time.precision.mode=nanoseconds`` sends Long.MAX_VALUE / MIN_VALUE
  (PG connector docs, *Temporal types*); dates are LocalDates of the year -5877611 (DBZ-5014);
* unchanged TOAST values (``__debezium_unavailable_value``, PG connector docs, *Toasted values*)
  in json/jsonb columns and arrays (``UnchangedToastedPlaceholder``: ``[placeholder]``, or its
  bytes as integers for int, bigint and date arrays);
* REAL / DOUBLE PRECISION 'NaN', 'Infinity', '-Infinity': Kafka's JsonConverter (Jackson, which
  quotes non-finite doubles by default) writes them as the text "NaN", "Infinity", "-Infinity".
"""

import copy
import math
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.infinite_dates import DATE_INFINITY, DATE_MINUS_INFINITY
from engine.operators.debezium import Debezium
from engine.values import INFINITY, MINUS_INFINITY, NonFiniteFloat

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
PLACEHOLDER = "__debezium_unavailable_value"
LONG_MAX, LONG_MIN = 2 ** 63 - 1, -(2 ** 63)


def col(name, kind, logical=None, **extra):
    field = {"type": kind, "optional": True, "field": name, **extra}
    if logical:
        field["name"] = logical
    return field


def envelope(columns, after, before=None, op="c"):
    row = {"type": "struct", "optional": True, "name": "tms.public.t.Value", "fields": columns}
    schema = {"type": "struct", "name": "tms.public.t.Envelope",
              "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                         {"type": "struct", "field": "source", "fields": []}, {"type": "string", "field": "op"}]}
    return {"schema": schema, "payload": {"before": before, "after": after, "op": op, "ts_ms": 1,
                                         "source": {"table": "t", "txId": 5, "lsn": 10}, "transaction": None}}


def decoded(records, config=None, owned=False):
    """(events, dead letters) of ``process``, or of ``process_owned`` on copies."""
    step = Debezium("cdc", config or {}, None)
    return step.process_owned(copy.deepcopy(records)) if owned else step.process(records)


def both_ways(records, config=None):
    """``process`` and ``process_owned`` agree; their (events, reasons)."""
    oks, deads = decoded(records, config)
    owned_oks, owned_deads = decoded(records, config, owned=True)
    assert owned_oks == oks and [d.error for d in owned_deads] == [d.error for d in deads]
    return oks, [d.error for d in deads]


TIMESTAMP_MS = col("ts", "int64", "io.debezium.time.Timestamp", version=1)
CONNECT_MS = col("ts", "int64", "org.apache.kafka.connect.data.Timestamp", version=1)
MICRO = col("ts", "int64", "io.debezium.time.MicroTimestamp", version=1)
NANO = col("ts", "int64", "io.debezium.time.NanoTimestamp", version=1)


# --- infinities -------------------------------------------------------------------------------

def test_millisecond_columns_read_infinity_in_milliseconds():
    for column in (TIMESTAMP_MS, CONNECT_MS):
        oks, reasons = both_ways([envelope([column], {"ts": 9223372036825200}),
                                  envelope([column], {"ts": -9223372036832400})])
        assert reasons == [] and [e["after"]["ts"] for e in oks] == [INFINITY, MINUS_INFINITY]
        # a neighbour is no sentinel: out of range as ms, so a dead letter naming the column
        oks, reasons = both_ways([envelope([column], {"ts": 9223372036825200 + 1})])
        assert oks == [] and reasons[0].startswith("cannot decode field 'after.ts' value 9223372036825201")


def test_the_millisecond_sentinel_is_a_finite_instant_in_microseconds():
    oks, reasons = both_ways([envelope([MICRO], {"ts": 9223372036825200})])
    assert reasons == [] and oks[0]["after"]["ts"] == EPOCH + timedelta(microseconds=9223372036825200)
    assert type(oks[0]["after"]["ts"]) is datetime


def test_nanosecond_columns_read_long_max_and_min_as_infinity():
    oks, reasons = both_ways([envelope([NANO], {"ts": LONG_MAX}), envelope([NANO], {"ts": LONG_MIN}),
                              envelope([NANO], {"ts": LONG_MAX - 1})])
    assert reasons == [] and [e["after"]["ts"] for e in oks[:2]] == [INFINITY, MINUS_INFINITY]
    assert type(oks[2]["after"]["ts"]) is datetime and oks[2]["after"]["ts"].year == 2262


def test_schemaless_millisecond_casts_read_infinity_in_milliseconds():
    records = [{"op": "c", "after": {"a": 9223372036825200, "b": -9223372036832400}, "source": {}}]
    for config in ({"fields": {"after.a": "timestamp(ms)", "after.b": "timestamp(ms)"}},
                   {"time": "connect", "fields": {"after.a": "timestamp", "after.b": "timestamp"}}):
        oks, reasons = both_ways(records, config)
        assert reasons == [] and (oks[0]["after"]["a"], oks[0]["after"]["b"]) == (INFINITY, MINUS_INFINITY)


def test_an_infinite_date_is_the_engines_infinite_date():
    column = col("d", "int32", "io.debezium.time.Date", version=1)
    for days, infinite in ((-2147472692, DATE_INFINITY), (-2147472691, DATE_MINUS_INFINITY)):
        oks, reasons = both_ways([envelope([column], {"d": days})])
        assert reasons == [] and oks[0]["after"]["d"] is infinite
    _, reasons = both_ways([envelope([column], {"d": -2147472690})])  # no sentinel: the usual reason
    assert "out of the representable range" in reasons[0]


# --- unchanged TOAST values --------------------------------------------------------------------

TOASTED = [col("id", "int32"), col("attributes", "string", "io.debezium.data.Json", version=1),
           col("tags", "array", items=col("tag", "string", "io.debezium.data.Json", version=1)),
           col("days", "array", items=col("day", "int32", "io.debezium.time.Date", version=1)),
           col("ship_date", "int32", "io.debezium.time.Date", version=1)]


def test_unchanged_toast_values_are_kept_as_debeziums_placeholder_and_the_rest_decoded():
    as_bytes = list(PLACEHOLDER.encode())  # Debezium's placeholder of an int/bigint/date array
    before = {"id": 1, "attributes": '{"a": 1}', "tags": ['{"t": 1}'], "days": [1, 2], "ship_date": 3}
    after = {"id": 1, "attributes": PLACEHOLDER, "tags": [PLACEHOLDER], "days": as_bytes, "ship_date": 4}
    oks, reasons = both_ways([envelope(TOASTED, after, before, op="u"), envelope(TOASTED, after, op="u")])
    assert reasons == [] and len(oks) == 2
    for event in oks:
        assert event["after"]["attributes"] == PLACEHOLDER and event["after"]["tags"] == [PLACEHOLDER]
        assert event["after"]["days"] == as_bytes  # not 28 dates made of the placeholder's bytes
        assert event["after"]["ship_date"] == EPOCH.date() + timedelta(days=4)
    assert oks[0]["before"]["attributes"] == {"a": 1} and oks[0]["before"]["tags"] == [{"t": 1}]


def test_other_text_in_a_json_column_is_still_a_dead_letter():
    for text in (PLACEHOLDER + " ", "__debezium_unavailable", "{broken"):
        oks, reasons = both_ways([envelope(TOASTED, {"id": 1, "attributes": text})])
        assert oks == [] and reasons[0].startswith("cannot decode field 'after.attributes'")


# --- non-finite floats -------------------------------------------------------------------------

FLOATS = [col("r", "float"), col("d", "double"), col("ds", "array", items=col("x", "double", optional=True))]


def test_non_finite_floats_written_as_text_are_floats():
    oks, reasons = both_ways([envelope(FLOATS, {"r": "NaN", "d": "-Infinity", "ds": ["Infinity", 1.5, None]}),
                              envelope(FLOATS, {"r": 2.5, "d": 7, "ds": []})])
    assert reasons == []
    first, second = oks[0]["after"], oks[1]["after"]
    assert type(first["r"]) is NonFiniteFloat and math.isnan(first["r"])  # a float JSON sinks write as "NaN"
    assert first["d"] == -math.inf and first["ds"][0] == math.inf and first["ds"][1:] == [1.5, None]
    assert second == {"r": 2.5, "d": 7, "ds": []}


def test_an_update_keeping_a_nan_keeps_it_and_other_text_in_a_float_column_is_a_dead_letter():
    oks, reasons = both_ways([envelope(FLOATS, {"r": "NaN", "d": "Infinity", "ds": None},
                                       {"r": "NaN", "d": 1.0, "ds": None}, op="u")])
    assert reasons == [] and math.isnan(oks[0]["after"]["r"]) and math.isnan(oks[0]["before"]["r"])
    assert oks[0]["after"]["d"] == math.inf and oks[0]["before"]["d"] == 1.0
    for value in ("nan", "1.5", "inf"):
        oks, reasons = both_ways([envelope(FLOATS, {"r": None, "d": value, "ds": None})])
        assert oks == [] and reasons[0].startswith(f"cannot decode field 'after.d' value '{value}'")
    oks, reasons = both_ways([envelope(FLOATS, {"r": None, "d": value, "ds": None})], {"on_error": "null"})
    assert reasons == [] and oks[0]["after"]["d"] is None


# --- properties --------------------------------------------------------------------------------

FIRST, LAST = datetime(1, 1, 1, tzinfo=timezone.utc), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
MIN_MICROS, MAX_MICROS = (FIRST - EPOCH) // timedelta(microseconds=1), (LAST - EPOCH) // timedelta(microseconds=1)


@settings(max_examples=300, deadline=None)
@given(st.integers(MIN_MICROS, MAX_MICROS))
def test_every_micro_timestamp_in_range_decodes_and_round_trips(micros):
    oks, reasons = both_ways([envelope([MICRO], {"ts": micros}),
                              envelope([TIMESTAMP_MS], {"ts": micros // 1000})])
    assert reasons == []
    micro, milli = oks[0]["after"]["ts"], oks[1]["after"]["ts"]
    assert type(micro) is datetime and (micro - EPOCH) // timedelta(microseconds=1) == micros
    assert (milli - EPOCH) // timedelta(milliseconds=1) == micros // 1000


TIME_COLUMNS = [MICRO, TIMESTAMP_MS, NANO, CONNECT_MS, col("ts", "int32", "io.debezium.time.Date"),
                col("ts", "int64", "io.debezium.time.MicroTime"), col("ts", "double"), col("ts", "float"),
                col("ts", "string", "io.debezium.data.Json"),
                col("ts", "array", items=col("x", "int32", "io.debezium.time.Date"))]
ANY_VALUE = st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=30), st.booleans(),
                      st.sampled_from([PLACEHOLDER, "NaN", "-Infinity", 9223372036825200, LONG_MAX, -2147472692]),
                      st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=30))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(TIME_COLUMNS), ANY_VALUE, st.booleans())
def test_no_value_makes_the_step_raise(column, value, to_null):
    records = [envelope([column], {"ts": value}), envelope([column], {"ts": value}, {"ts": value}, op="u")]
    oks, reasons = both_ways(records, {"on_error": "null"} if to_null else {})
    assert len(oks) + len(reasons) == 2
    assert all(reason.startswith("cannot decode field ") for reason in reasons)
