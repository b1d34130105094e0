"""The memo's miss path (debezium_schema.memoized's ``memo_missed``, the converters' ``usual_convert``)
and its cheaper checks give exactly the values and errors of the code they replaced: the canonical
base64 regex, ``Decimal(f"{n}E{-scale}")``, ``timedelta(microseconds=...)``."""

import base64
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.operators.debezium_schema import row_converters
from engine.operators.debezium_types import (
    _JDBC_MINUS_INFINITY,
    LOGICAL,
    MAX_UNSCALED_BYTES,
    _scaled,
    _unscaled,
    decimal_bytes,
    zoned_timestamp,
)
from engine.values import MINUS_INFINITY, infinite_epochs

_OLD_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?")


def _old_unscaled(value) -> int:
    if type(value) is not str:
        raise ValueError(f"expected base64 text, got {type(value).__name__}")
    if len(value) > MAX_UNSCALED_BYTES * 4 // 3 + 4:
        raise ValueError(f"more than {MAX_UNSCALED_BYTES} bytes")
    if _OLD_BASE64.fullmatch(value) is None:
        raise ValueError("not base64 text")
    raw = base64.b64decode(value)
    if not raw:
        raise ValueError("empty bytes")
    return int.from_bytes(raw, "big", signed=True)


def _outcome(convert, value):
    try:
        return "value", convert(value)
    except ValueError as exc:
        return type(exc), str(exc)


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_near_base64 = st.one_of(
    st.binary(max_size=12).map(lambda raw: base64.b64encode(raw).decode()),  # canonical
    st.text(alphabet=_ALPHABET, max_size=14),  # padding anywhere, stray bits, wrong lengths
    st.binary(min_size=1, max_size=12).map(lambda raw: base64.b64encode(raw).decode()).flatmap(
        lambda text: st.tuples(st.integers(0, len(text)), st.sampled_from(" \n\t-_.=é\x00\u0100\ud800A"))
        .map(lambda edit: text[:edit[0]] + edit[1] + text[edit[0]:])),  # one character inserted
    st.text(max_size=10),
)


@settings(max_examples=3000, deadline=None)
@given(_near_base64)
@example("")
@example("AB==")  # stray bits before '=='
@example("ABC=")  # stray bits before '='
@example("AA=")
@example("A===")
@example("AA==AA==")
@example("AA== ")
@example("\nAA==")
@example("AAé=")
@example("\ud800AAA")
@example("=AAA")
def test_the_base64_check_is_the_regex(text):
    assert _outcome(_unscaled, text) == _outcome(_old_unscaled, text)
    scale = len(text) % 5
    old = _outcome(lambda value: Decimal(f"{_old_unscaled(value)}E{-scale}"), text)
    assert _outcome(decimal_bytes(scale).usual_convert, text) == old
    new = _outcome(decimal_bytes(scale), text)
    assert new == old and (new[0] != "value" or str(new[1]) == str(old[1]))


def test_too_long_and_not_text_are_refused_as_before():
    for value in ("A" * (MAX_UNSCALED_BYTES * 4 // 3 + 8), 12, None, b"AA=="):
        assert _outcome(_unscaled, value) == _outcome(_old_unscaled, value)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.integers(-(2 ** 100), 2 ** 100), st.integers(-(10 ** 400), 10 ** 400)), st.integers(-1000, 1000))
@example(0, 2)
@example(0, -3)
@example(-1, 0)
def test_scaled_is_the_decimal_of_its_text(unscaled, scale):
    old = Decimal(f"{unscaled}E{-scale}")
    for new in (_scaled(unscaled, scale), _scaled(unscaled, scale, Decimal(-scale))):  # (the shift made by a caller)
        assert new.as_tuple() == old.as_tuple() and str(new) == str(old)


@pytest.mark.parametrize("name", ["io.debezium.time.Timestamp", "io.debezium.time.MicroTimestamp",
                                  "io.debezium.time.NanoTimestamp"])
@settings(max_examples=500, deadline=None)
@given(number=st.one_of(st.integers(-(2 ** 64), 2 ** 64), st.integers(-(10 ** 20), 10 ** 20)))
@example(number=0)
@example(number=2 ** 63 - 1)
@example(number=-(2 ** 63))
def test_epoch_numbers_convert_as_before(name, number):
    convert = LOGICAL[name]
    per_second = {"io.debezium.time.Timestamp": 1_000, "io.debezium.time.MicroTimestamp": 1_000_000}.get(name)

    infinite_of = infinite_epochs(per_second or 1_000_000_000).get

    def old(value):
        if infinite_of(value) is not None:
            return infinite_of(value)
        micros = value * (1_000_000 // per_second) if per_second else value // 1_000
        try:
            return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)
        except OverflowError:
            raise ValueError("out of the representable range (years 1-9999)") from None

    expected = _outcome(old, number)
    assert _outcome(convert, number) == expected
    assert _outcome(convert.usual_convert, number) == expected


def test_zoned_text_reads_the_jdbc_minus_infinity_and_refuses_as_before():
    assert zoned_timestamp.usual_convert(_JDBC_MINUS_INFINITY) is MINUS_INFINITY
    assert _outcome(zoned_timestamp.usual_convert, "2024-13-01T00:00:00Z") == _outcome(zoned_timestamp,
                                                                                       "2024-13-01T00:00:00Z")


def _row(fields):
    return row_converters([{"field": name, **schema} for name, schema in fields.items()], "after")


_DECIMAL2 = {"name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}
_DECIMAL3 = {"name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}}
_ZONED = {"name": "io.debezium.time.ZonedTimestamp"}
_MICROS = {"name": "io.debezium.time.MicroTimestamp"}


def test_the_row_code_converts_and_remembers_what_it_missed():
    for code in ("row", "in_place"):
        convs = _row({"d": _DECIMAL2, "z": _ZONED, "t": _MICROS})
        row = {"d": "AOg=", "z": "2024-03-04T05:02:04.076117+01:00", "t": 1709534880197838}
        out = getattr(convs, code)(dict(row))
        assert out == {"d": Decimal("2.32"), "z": datetime(2024, 3, 4, 4, 2, 4, 76117, tzinfo=timezone.utc),
                       "t": datetime(2024, 3, 4, 6, 48, 0, 197838, tzinfo=timezone.utc)}
        for (key, convert) in convs:  # each value remembered, as the converted one
            assert convert.memo_get(row[key]) is out[key]
        long_text = "AOgA" + "A" * 100  # (too long to be remembered)
        unscaled = int.from_bytes(base64.b64decode(long_text), "big", signed=True)
        assert getattr(convs, code)({**row, "d": long_text})["d"] == Decimal(f"{unscaled}E-2")
        assert convs[0][1].memo_get(long_text) is None


def test_a_rows_columns_of_one_type_share_a_memo_and_scales_do_not():
    convs = _row({"a": _DECIMAL2, "b": _DECIMAL3, "c": _DECIMAL2, "z": _ZONED, "y": _ZONED})
    memos = {key: convert.memo_get.__self__ for key, convert in convs}
    assert memos["a"] is memos["c"] and memos["z"] is memos["y"] and memos["a"] is not memos["b"]
    out = convs.in_place({"a": "AOg=", "b": "AOg=", "c": "AOg=", "z": "2024-03-04T05:02:04Z",
                          "y": "2024-03-04T05:02:04Z"})
    assert str(out["a"]) == "2.32" and str(out["b"]) == "0.232" and out["c"] is out["a"] and out["y"] is out["z"]


def test_the_rows_of_other_tables_share_a_types_memo_and_scales_do_not():
    # (a transaction's updated_at in each table it changed: converted once for them all)
    orders, stops = _row({"d": _DECIMAL2, "updated_at": _ZONED}), _row({"weight": _DECIMAL3, "changed": _ZONED,
                                                                         "price": _DECIMAL2})
    assert orders is not stops
    memos = {key: convert.memo_get.__self__ for convs in (orders, stops) for key, convert in convs}
    assert memos["updated_at"] is memos["changed"] and memos["d"] is memos["price"]
    assert memos["d"] is not memos["weight"] and memos["d"] is not memos["updated_at"]
    first = orders.in_place({"d": "AOk=", "updated_at": "2024-03-04T05:02:06.5+01:00"})
    second = stops.in_place({"weight": "AOk=", "changed": "2024-03-04T05:02:06.5+01:00", "price": "AOk="})
    assert first == {"d": Decimal("2.33"), "updated_at": datetime(2024, 3, 4, 4, 2, 6, 500000, tzinfo=timezone.utc)}
    assert second["changed"] is first["updated_at"] and second["price"] is first["d"]
    assert second["weight"] == Decimal("0.233") and str(second["weight"]) == "0.233"
    bad = {"d": "AOk", "updated_at": "2024-03-04T05:02:06Z"}  # (not canonical base64: fails, nothing remembered)
    with pytest.raises(ValueError):
        stops.in_place({"weight": "AOk", "changed": "2024-03-04T05:02:06Z", "price": "AOk"})
    assert memos["d"].get("AOk") is None and memos["weight"].get("AOk") is None
    with pytest.raises(ValueError):
        orders.in_place(dict(bad))
