"""Debezium values that lost their meaning before (issue "Fast Storage equals the TMS database
under real CDC conditions", items 4-5): numbers in ``jsonb`` with more digits than a double
holds, and PostgreSQL's ``'infinity'`` / ``'-infinity'`` timestamps. docs/debezium.md,
*Special values* and *JSON columns*."""

import binascii
import json
import pickle
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import jsontext
from engine.expressions import compile_expression
from engine.operators.debezium import Debezium, json_text
from engine.values import INFINITY, MINUS_INFINITY, InfiniteTimestamp, converter, parse_timestamp, to_str, to_timestamp

UTC = timezone.utc
PLUS_MS, MINUS_MS = 9223372036825200000, -9223372036832400000  # as Debezium sends them


def _event(after: dict) -> dict:
    """A create event with the schema: a jsonb column and timestamp columns of each kind."""
    fields = [{"type": "int32", "optional": False, "field": "id"},
              {"type": "string", "optional": True, "name": "io.debezium.data.Json", "field": "attrs"},
              {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "field": "micro"},
              {"type": "int64", "optional": True, "name": "io.debezium.time.Timestamp", "field": "milli"},
              {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "field": "zoned"}]
    row = {"type": "struct", "optional": True, "name": "tms.public.t.Value", "fields": fields}
    schema = {"type": "struct", "name": "tms.public.t.Envelope",
              "fields": [dict(row, field="before"), dict(row, field="after"),
                         {"type": "struct", "field": "source", "fields": []},
                         {"type": "string", "field": "op"}]}
    payload = {"before": None, "after": {"id": 1, **after}, "op": "c", "ts_ms": 1,
               "source": {"table": "t", "txId": 7, "lsn": 1}}
    return {"schema": schema, "payload": payload}


def _decoded(after: dict) -> dict:
    oks, deads = Debezium("cdc", {}, None).process([_event(after)])
    assert [d.error for d in deads] == []
    return oks[0]["after"]


# --- jsonb numbers ----------------------------------------------------------------------------

big_ints = st.integers(min_value=-(10 ** 60), max_value=10 ** 60)
long_decimals = st.builds(
    lambda sign, whole, fraction: f"{sign}{whole}.{fraction}",
    st.sampled_from(["", "-"]), st.integers(0, 10 ** 25), st.from_regex(r"\A[0-9]{1,25}\Z"))


def _exact(value):
    """A decoded JSON number as an exact Decimal (a float only when it is exactly the literal)."""
    return Decimal(repr(value)) if type(value) is float else Decimal(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(big_ints, long_decimals), min_size=1, max_size=8))
def test_jsonb_numbers_decode_exactly_whatever_their_digits(numbers):
    text = "{" + ", ".join(f'"k{i}": {n}' for i, n in enumerate(numbers)) + ', "list": [' + ", ".join(map(str, numbers)) + "]}"
    value = _decoded({"attrs": text})["attrs"]
    for i, number in enumerate(numbers):
        assert _exact(value[f"k{i}"]) == Decimal(str(number))
        assert _exact(value["list"][i]) == Decimal(str(number))
        if type(number) is int:
            assert value[f"k{i}"] == number and type(value[f"k{i}"]) is int


def test_a_30_digit_integer_and_a_20_digit_decimal_keep_every_digit():
    value = json_text('{"n": 123456789012345678901234567890, "d": 1234567890.1234567891, "x": 0.1, "e": 1e-400}')
    assert value == {"n": 123456789012345678901234567890, "d": Decimal("1234567890.1234567891"), "x": 0.1,
                     "e": Decimal("1E-400")}
    assert type(value["x"]) is float  # a fraction a double holds exactly stays a float
    assert json_text("12345678901234567.123") == Decimal("12345678901234567.123")  # a scalar jsonb value


def test_cast_to_json_of_text_reads_numbers_exactly_too():
    """Schemaless events: ``fields: {after.attrs: json}`` is the same reading."""
    assert converter("json")('[99999999999999999.99]') == [Decimal("99999999999999999.99")]
    assert jsontext.loads_column('"1234567890123456789.5"') == "1234567890123456789.5"  # text stays text


@pytest.mark.parametrize("text", ["[NaN]", "[" + "1" * 5000 + "]", "{not json"])  # ([1e400]: a numeric, taken)
def test_jsonb_refusals_are_unchanged(text):
    with pytest.raises(ValueError):
        json_text(text)


# --- infinite timestamps ----------------------------------------------------------------------

def test_every_debezium_encoding_of_infinity_decodes_to_the_sentinels():
    after = _decoded({"micro": PLUS_MS, "milli": MINUS_MS, "zoned": "infinity"})
    assert after["micro"] is INFINITY and after["milli"] is MINUS_INFINITY and after["zoned"] is INFINITY
    assert _decoded({"zoned": "-infinity"})["zoned"] is MINUS_INFINITY
    # schemaless casts: the hinted ``timestamp`` and the unit casts
    oks, deads = Debezium("cdc", {"fields": {"after.a": "timestamp", "after.b": "timestamp(ms)",
                                                            "after.c": "timestamp(us)"}}, None).process(
        [{"op": "c", "after": {"a": PLUS_MS, "b": MINUS_MS, "c": PLUS_MS}, "source": {}}])
    assert deads == [] and (oks[0]["after"]["a"], oks[0]["after"]["b"], oks[0]["after"]["c"]) == (
        INFINITY, MINUS_INFINITY, INFINITY)


def test_the_sentinels_are_datetime_max_and_min_that_say_infinity():
    assert INFINITY == datetime.max.replace(tzinfo=UTC) and MINUS_INFINITY == datetime.min.replace(tzinfo=UTC)
    assert (str(INFINITY), INFINITY.isoformat(), str(MINUS_INFINITY)) == ("infinity", "infinity", "-infinity")
    assert to_str(INFINITY) == "infinity" and to_timestamp(MINUS_INFINITY) is MINUS_INFINITY
    for text, expected in [("infinity", INFINITY), ("+infinity", INFINITY), (" -Infinity ", MINUS_INFINITY)]:
        assert parse_timestamp(text) is expected
    assert pickle.loads(pickle.dumps(INFINITY)) is INFINITY  # state snapshots, workers
    assert INFINITY + timedelta(days=1) is INFINITY and MINUS_INFINITY - timedelta(days=1) is MINUS_INFINITY
    assert timedelta(hours=1) + INFINITY is INFINITY
    assert isinstance(INFINITY, datetime) and type(INFINITY) is InfiniteTimestamp


@settings(max_examples=200, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_infinities_sort_around_every_finite_timestamp(moment):
    assert MINUS_INFINITY <= moment <= INFINITY
    assert sorted([INFINITY, moment, MINUS_INFINITY]) == [MINUS_INFINITY, moment, INFINITY]
    assert (INFINITY - moment) >= timedelta(0) and (moment - MINUS_INFINITY) >= timedelta(0)


@pytest.mark.parametrize("text,event,expected", [
    ("t > timestamp('2024-01-01T00:00:00Z')", {"t": INFINITY}, True),
    ("t < timestamp('2024-01-01T00:00:00Z')", {"t": MINUS_INFINITY}, True),
    ("t == timestamp('infinity')", {"t": INFINITY}, True),
    ("timestamp(t) == timestamp('-infinity')", {"t": "-infinity"}, True),
    ("str(t)", {"t": INFINITY}, "infinity"),
    ("greatest(t, timestamp('2024-01-01T00:00:00Z'))", {"t": MINUS_INFINITY}, datetime(2024, 1, 1, tzinfo=UTC)),
    ("t + hours(1)", {"t": INFINITY}, INFINITY),
    ("epoch_ms(t) > 0", {"t": INFINITY}, True),
])
def test_expressions_on_infinite_timestamps_do_not_fail(text, event, expected):
    assert compile_expression(text, {"t": "timestamp" if type(event["t"]) is not str else "str"})(event) == expected


@given(st.one_of(st.binary(max_size=40).map(lambda b: binascii.b2a_base64(b, newline=False).decode()),
                 st.text(alphabet="AB+/=\n -_x", max_size=12)))
def test_decimal_bytes_accept_exactly_canonical_base64(text):
    """What Debezium writes is canonical base64 (the text is the encoding of its bytes); the check
    is written out, the same on every Python (3.10 has no a2b_base64(strict_mode=True), and
    strict mode still takes 'AAAA=')."""
    from engine.operators.debezium_types import _unscaled

    try:
        raw = binascii.a2b_base64(text)
        canonical = binascii.b2a_base64(raw, newline=False).decode() == text
    except binascii.Error:
        canonical = False
    expected = int.from_bytes(raw, "big", signed=True) if canonical else None
    try:
        got = _unscaled(text)
    except ValueError:
        got = None
    assert got == (expected if text else None)
