"""A table with a column of each PostgreSQL type Debezium maps, the rows
tests/integration/test_debezium_pg_types.py writes into it, and, per column, the rule that
says what the ``debezium`` step must give for what PostgreSQL holds (docs/debezium.md, *What
PostgreSQL's types become*).

Each column: (name, SQL type, what to SELECT of it to know its value, rule). A rule turns that
SELECT's value (psycopg's, with ``TimeZone=UTC``) into the decoded value expected; ``same``
compares (NaN equals NaN, a float and a Decimal of the same number are equal inside JSON).
"""

from __future__ import annotations

import base64
import json
import re
import struct
from datetime import date, datetime, time, timezone
from decimal import Decimal

from engine.infinite_dates import DATE_INFINITY, DATE_MINUS_INFINITY
from engine.values import INFINITY, MINUS_INFINITY

UTC = timezone.utc
LONG = 2 ** 63
MICROS = ("(extract(year from {c}) * 12 + extract(month from {c})) * 2629800000000 + extract(day from {c})"
          " * 86400000000 + extract(hour from {c}) * 3600000000 + extract(minute from {c}) * 60000000"
          " + extract(microseconds from {c})")  # Debezium's MicroDuration: 365.25 / 12 days a month
ISO_INTERVAL = ("CASE WHEN {c} IS NOT NULL THEN format('P%sY%sM%sDT%sH%sM%sS', extract(year from {c}),"
                " extract(month from {c}), extract(day from {c}), extract(hour from {c}), extract(minute from {c}),"
                " trim_scale(extract(second from {c}))) END")  # interval.handling.mode=string


def _as_json(column: str) -> str:
    return f"array_to_json({column})::text"


COLUMNS = [
    ("i2", "smallint", None, "same"), ("i4", "integer", None, "same"), ("i8", "bigint", None, "same"),
    ("o", "oid", "o::bigint", "same"), ("dom", "posint", None, "same"),
    ("n", "numeric", None, "numeric"), ("n102", "numeric(10,2)", None, "numeric"),
    ("n40", "numeric(40,10)", None, "numeric"), ("n0", "numeric(5,0)", None, "numeric"),
    ("nneg", "numeric(5,-2)", None, "numeric"),  # Debezium's scale: "2046" (the typmod's 11 bits), same value
    ("m", "money", "m::numeric", "numeric"), ("r", "real", None, "same"), ("d", "double precision", None, "same"),
    ("b", "boolean", None, "same"), ("bt1", "bit(1)", "bt1 = B'1'", "same"),
    ("t", "text", None, "same"), ("vc", "varchar(20)", None, "same"), ("ch", "char(5)", None, "same"),
    ("ci", "citext", "ci::text", "same"), ("u", "uuid", "u::text", "same"), ("e", "mood", "e::text", "same"),
    ("lt", "ltree", "lt::text", "same"), ("ine", "inet", "nullif(format('%s', ine), '')", "same"),
    ("ci4", "cidr", "ci4::text", "same"),
    ("mac", "macaddr", "mac::text", "same"), ("mac8", "macaddr8", "mac8::text", "same"),
    ("r4", "int4range", "r4::text", "same"), ("r8", "int8range", "r8::text", "same"),
    ("rn", "numrange", "rn::text", "same"), ("rts", "tsrange", "rts::text", "same"),
    ("rtz", "tstzrange", "rtz::text", "same"), ("rd", "daterange", "rd::text", "same"),
    ("x", "xml", "x::text", "xml"), ("bin", "bytea", "translate(encode(bin, 'base64'), E'\\n', '')", "same"),
    ("bt8", "bit(8)", "bt8::text", "bits"), ("vb", "varbit", "vb::text", "bits"),
    ("j", "json", "j::text", "json"), ("jb", "jsonb", "jb::text", "json"),
    ("hs", "hstore", "hstore_to_json(hs)::text", "json"),
    ("dt", "date", "dt::text", "date"), ("tm", "time", "tm::text", "time"), ("tm3", "time(3)", "tm3::text", "time"),
    ("ttz", "timetz", "(ttz AT TIME ZONE 'UTC')::time::text", "timetz"),
    ("ts", "timestamp", "ts::text", "timestamp"), ("ts3", "timestamp(3)", "ts3::text", "timestamp"),
    ("ts0", "timestamp(0)", "ts0::text", "timestamp"), ("tstz", "timestamptz", "tstz::text", "timestamp"),
    ("iv", "interval", MICROS.format(c="iv"), "interval"),
    ("pt", "point", "CASE WHEN pt IS NOT NULL THEN array[pt[0], pt[1]] END", "point"),
    ("ai", "int[]", _as_json("ai"), "[same]"), ("at", "text[]", _as_json("at"), "[same]"),
    ("au", "uuid[]", _as_json("au"), "[same]"), ("an", "numeric[]", _as_json("an"), "[numeric]"),
    ("an51", "numeric(5,1)[]", _as_json("an51"), "[numeric]"), ("ab", "bigint[]", _as_json("ab"), "[same]"),
    ("ad", "date[]", _as_json("ad"), "[date]"), ("ats", "timestamptz[]", _as_json("ats"), "[timestamp]"),
    ("atp", "timestamp[]", _as_json("atp"), "[timestamp]"), ("abo", "boolean[]", _as_json("abo"), "[same]"),
    ("af", "float8[]", _as_json("af"), "[float]"), ("ajb", "jsonb[]", _as_json("ajb"), "[json]"),
    ("ea", "mood[]", _as_json("ea"), "[enum]"), ("abin", "bytea[]", _as_json("abin"), "[bytea]"),
    ("big", "text", None, "same"),
]
# types Debezium leaves out of its events (no mapping, include.unknown.datatypes=false), and
# interval[] / money[]: columns absent from every decoded row
ABSENT = [("ln", "line"), ("bx", "box"), ("pth", "path"), ("pgn", "polygon"), ("cr", "circle"),
          ("tsv", "tsvector"), ("tq", "tsquery"), ("comp", "pair"), ("aiv", "interval[]"), ("am", "money[]")]

TOAST_COLUMNS = ("big", "jb", "j", "hs", "bin", "ai", "ab", "at", "ad", "au", "abin")  # out of line, uncompressed
SETUP = """
CREATE EXTENSION IF NOT EXISTS hstore; CREATE EXTENSION IF NOT EXISTS citext; CREATE EXTENSION IF NOT EXISTS ltree;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'très content');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
""" + "".join(
    f"CREATE TABLE {table} (id int PRIMARY KEY, "
    + ", ".join(f"{name} {kind}" for name, kind, _, _ in COLUMNS + [(n, k, None, None) for n, k in ABSENT])
    + f"); ALTER TABLE {table} REPLICA IDENTITY {identity};"
    + "".join(f" ALTER TABLE {table} ALTER COLUMN {c} SET STORAGE EXTERNAL;" for c in TOAST_COLUMNS) + "\n"
    for table, identity in (("pg_types", "DEFAULT"), ("pg_types_full", "FULL")))

_BIG = "(SELECT {agg} FROM generate_series(1, 600) i)"  # out of line (TOAST): > 2 KB, incompressible
ROWS = [  # (id, {column: SQL}, in the initial snapshot too, the reason of its dead letter or None)
    (1, {"i2": "12", "i4": "123456", "i8": "1234567890123", "o": "12345", "dom": "7", "n": "1234.5678",
         "n102": "12.30", "n40": "123456789012345678901234567890.1234567890", "n0": "42", "m": "12.34",
         "r": "0.1", "d": "2.25", "b": "true", "bt1": "B'1'", "t": "'hello'", "vc": "'varchar'", "ch": "'ab'",
         "ci": "'MiXeD'", "u": "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "e": "'happy'", "lt": "'Top.Science'",
         "ine": "'192.168.0.1/24'", "ci4": "'10.0.0.0/8'", "mac": "'08:00:2b:01:02:03'",
         "mac8": "'08:00:2b:01:02:03:04:05'", "r4": "'[1,10)'", "r8": "'[1,10)'", "rn": "'[1.5,2.5]'",
         "rts": "'[2024-03-05 10:00,2024-03-06 10:00)'", "rtz": "'[2024-03-05 10:00+00,2024-03-06 10:00+00)'",
         "rd": "'[2024-03-05,2024-03-06)'", "x": "'<a><b>x</b></a>'", "bin": "'\\x00ff10'", "bt8": "B'10100101'",
         "vb": "B'101'", "j": """'{"a": 1, "b": [1, 2.5, "x"], "c": {"d": null}}'""",
         "jb": """'{"k": "v", "n": 12345678901234567890123, "f": 0.1}'""", "hs": """'a=>1, b=>"x y"'""",
         "dt": "'2024-03-05'", "tm": "'13:45:30.123456'", "tm3": "'13:45:30.123'", "ttz": "'13:45:30.5+02'",
         "ts": "'2024-03-05 13:45:30.123456'", "ts3": "'2024-03-05 13:45:30.123'", "ts0": "'2024-03-05 13:45:30'",
         "tstz": "'2024-03-05 13:45:30.123456+01'", "iv": "'1 year 2 mons 3 days 04:05:06.789'", "pt": "'(1.5,2.5)'",
         "ai": "'{1,2,3}'", "at": """'{"a","b c","d,e"}'""", "au": "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'",
         "an": "'{1.5,2.25}'", "an51": "'{1.5,2.1}'", "ab": "'{1,9223372036854775807}'", "ad": "'{2024-03-05}'",
         "ats": """'{"2024-03-05 13:45:30+00"}'""", "atp": """'{"2024-03-05 13:45:30.123456"}'""",
         "abo": "'{true,false}'", "af": "'{1.5,0.1}'", "ajb": """ARRAY['{"a":1}'::jsonb]""", "ea": "'{sad,ok}'",
         "abin": """'{"\\\\x00ff"}'""", "big": "'small'", "ln": "'{1,-1,0}'", "bx": "'((0,0),(1,1))'",
         "pth": "'[(0,0),(1,1)]'", "pgn": "'((0,0),(1,1),(2,0))'", "cr": "'<(1,1),2>'", "tsv": "'a fat cat'",
         "tq": "'fat & rat'", "comp": "ROW(1, 'x')", "aiv": """'{"1 day"}'""", "am": "'{1.5}'"}, True, None),
    (2, {"i2": "-32768", "i4": "-2147483648", "i8": "-9223372036854775808", "o": "4294967295", "dom": "2147483647",
         "n": "'NaN'", "n102": "-99999999.99", "n40": "-9999999999999999999999999999.9999999999", "n0": "-99999",
         "m": "-1234.56", "r": "'NaN'", "d": "'Infinity'", "b": "false", "bt1": "B'0'",
         "t": """'ünïcødé ✓ 😀 "quotes" \\ back'""", "vc": "''", "ch": "''", "ci": "''",
         "u": "'00000000-0000-0000-0000-000000000000'", "e": "'sad'", "lt": "''", "ine": "'::1'", "ci4": "'::/0'",
         "mac": "'ff:ff:ff:ff:ff:ff'", "mac8": "'ff:ff:ff:ff:ff:ff:ff:ff'", "r4": "'empty'", "r8": "'(,)'",
         "rn": "'empty'", "rts": "'(,)'", "rtz": "'(,)'", "rd": "'empty'", "x": "'<a/>'", "bin": "''",
         "bt8": "B'00000000'", "vb": "B''", "j": "'[]'", "hs": "''", "dt": "'infinity'", "tm": "'00:00:00'",
         "jb": """'{"deep": {"a": [[[1]]]}, "big": 123456789012345678901234567890,
                   "frac": 1.2345678901234567890123, "uni": "é😀", "tiny": 1e-400}'""",
         "tm3": "'23:59:59.999'", "ttz": "'23:59:59.999999-14:59'", "ts": "'infinity'", "ts3": "'-infinity'",
         "ts0": "'-infinity'", "tstz": "'infinity'", "iv": "'-178000000 years'", "pt": "'(-1e300,1e-300)'",
         **{a: "'{}'" for a in ("ai", "at", "au", "an", "an51", "ab", "ad", "ats", "atp", "abo", "af", "ajb", "ea",
                                "abin")}}, True, None),
    (3, {}, True, None),  # every column null
    (4, {"i2": "32767", "i4": "2147483647", "i8": "9223372036854775807", "o": "0", "dom": "1", "n": "'Infinity'",
         "n102": "0", "n40": "0.0000000001", "n0": "99999", "m": "1234567.89", "r": "'-Infinity'",
         "d": "'-Infinity'", "t": "E'line\\nbreak\\ttab'", "vc": "'x'", "ch": "'abcde'", "ci": "'Ä'",
         "u": "'ffffffff-ffff-ffff-ffff-ffffffffffff'", "e": "'très content'", "lt": "'a.b_c.d1'",
         "ine": "'2001:db8::1/64'", "ci4": "'2001:db8::/32'", "mac": "'00:00:00:00:00:00'",
         "mac8": "'00:00:00:00:00:00:00:00'", "r4": "'[-2147483648,2147483647)'",
         "r8": "'[-9223372036854775808,9223372036854775807)'", "rn": "'(,)'", "rts": "'[-infinity,infinity]'",
         "rtz": "'[-infinity,infinity)'", "rd": "'[-infinity,infinity)'",
         "x": """'<?xml version="1.0"?><doc>&amp;é</doc>'""", "bin": "'\\xdeadbeef'", "bt8": "B'11111111'",
         "vb": "B'1010101010101010101'", "j": """'"just a string"'""", "jb": "'[1, -0.0, 1e-400, 1.0, 100, 1e300]'",
         "hs": """'k=>NULL, "é"=>"😀"'""", "dt": "'-infinity'", "tm": "'23:59:59.999999'", "tm3": "'00:00:00.001'",
         "ttz": "'00:00:00+14'", "ts": "'1899-12-31 23:59:59.5'", "ts3": "'1969-12-31 23:59:59.999'",
         "ts0": "'9999-12-31 23:59:59'", "tstz": "'-infinity'", "iv": "'-1 mons -2 days 03:00:00'",
         "pt": "'(NaN,Infinity)'", "ai": "'{NULL,1,NULL}'", "at": """'{NULL,"NULL",""}'""", "au": "'{NULL}'",
         "an": "'{NaN,NULL,1e-20}'", "an51": "'{NULL,-1.5}'", "ab": "'{NULL}'", "ad": "'{infinity,NULL,-infinity}'",
         "ats": "'{infinity,NULL,-infinity}'", "atp": "'{infinity,-infinity,NULL}'", "abo": "'{NULL}'",
         "af": "'{NaN,Infinity,-Infinity,NULL,5e-324,1.7976931348623157e308}'",
         "ajb": """'{NULL,"null","[1,2]"}'""", "ea": """'{NULL,"très content"}'""",
         "abin": """'{NULL,"\\\\x"}'"""}, True, None),
    # Debezium's snapshot reads these through JDBC's Julian calendar (days shifted) and money as a double
    (5, {"dt": "'1582-10-04'", "ts": "'1582-10-04 12:00:00'", "tstz": "'1582-10-04 12:00:00+00'",
         "ts3": "'0001-01-01 00:00:00'", "m": "-92233720368547758.08"}, False, None),
    (6, {"dt": "'0001-01-01'", "ts": "'0001-01-01 00:00:00'", "tstz": "'0001-01-01 00:00:00.000001+00'",
         "ts3": "'9999-12-31 23:59:59.999'", "m": "92233720368547758.07"}, False, None),
    (7, {"dt": "'9999-12-31'", "ts": "'9999-12-31 23:59:59.999999'", "tstz": "'9999-12-31 23:59:59.999999+00'"},
     False, None),
    (8, {"tm": "'24:00:00'"}, False, "cannot decode field 'after.tm' value 86400000"),
    (9, {"dt": "'0044-03-15 BC'"}, False, "cannot decode field 'after.dt' value -735160"),
    (10, {"ts": "'4713-01-01 00:00:00 BC'"}, False, "cannot decode field 'after.ts' value -2108635200000"),
    (11, {"ts3": "'294276-12-31 23:59:59'"}, False, "cannot decode field 'after.ts3' value 9224318015999000"),
    (13, {"n": "1e131071", "nneg": "12345", "d": "'4.9e-324'",
          "af": "'{4.9e-324,2.82879384806159e17,0.30000000000000004}'"}, True, None),
    (12, {"big": _BIG.format(agg="string_agg(md5(i::text), '')"),  # updated below: unchanged TOAST values
          "jb": _BIG.format(agg="jsonb_build_object('big', string_agg(md5(i::text), ''))"),
          "j": _BIG.format(agg="json_build_object('big', string_agg(md5(i::text), ''))"),
          "hs": _BIG.format(agg="hstore('k', string_agg(md5(i::text), ''))"),
          "bin": _BIG.format(agg="decode(string_agg(md5(i::text), ''), 'hex')"),
          "ai": _BIG.format(agg="array_agg(('x' || left(md5(i::text), 8))::bit(32)::int)"),
          "ab": _BIG.format(agg="array_agg(('x' || left(md5(i::text), 16))::bit(64)::bigint)"),
          "at": _BIG.format(agg="array_agg(md5(i::text))"),
          "ad": _BIG.format(agg="array_agg(date '2024-01-01' + ('x' || left(md5(i::text), 4))::bit(16)::int)"),
          "au": _BIG.format(agg="array_agg(md5(i::text)::uuid)"),
          "abin": _BIG.format(agg="array_agg(decode(md5(i::text), 'hex'))")}, True, None),
]
TOASTED = 12


# --- rules: what the step must give for what PostgreSQL holds ------------------------------------

def _date(text: str) -> date:
    return {"infinity": DATE_INFINITY, "-infinity": DATE_MINUS_INFINITY}.get(text) or date.fromisoformat(text)


def _timestamp(text: str) -> datetime:
    infinite = {"infinity": INFINITY, "-infinity": MINUS_INFINITY}.get(text)
    if infinite is not None:
        return infinite
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _bits(text: str) -> str:
    """Debezium's ``Bits``: the bit string's number as little-endian bytes, leading zero bytes
    dropped (B'00000000' and B'' are both ``""``), base64."""
    number = int(text, 2) if text else 0
    return base64.b64encode(number.to_bytes((number.bit_length() + 7) // 8, "little")).decode()


def _point(xy) -> dict:
    x, y = xy
    wkb = base64.b64encode(b"\x01" + (1).to_bytes(4, "little") + struct.pack("<dd", x, y)).decode()
    return {"x": x, "y": y, "wkb": wkb, "srid": None}


def _ms(value):
    if value is INFINITY or value is MINUS_INFINITY:
        return value
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_WORDS = {"NaN": "NAN", "Infinity": "POSITIVE_INFINITY", "-Infinity": "NEGATIVE_INFINITY"}
RULES = {
    "same": lambda v: v, "json": lambda v: json.loads(v, parse_float=Decimal), "date": _date, "bits": _bits,
    "numeric": lambda v: v if v.is_finite() else None,  # precise mode: Debezium sends null for NaN, +-Infinity
    "numeric_text": lambda v: _WORDS[str(v)] if not v.is_finite() else format(v, "f"),
    "numeric_double": float,
    "xml": lambda v: re.sub(r"^<\?xml[^>]*\?>", "", v),  # Debezium leaves the declaration out
    "time": time.fromisoformat, "timetz": lambda v: time.fromisoformat(v).replace(tzinfo=UTC),
    "timestamp": _timestamp, "time_ms": lambda v: _ms(time.fromisoformat(v)),
    "timestamp_ms": lambda v: _ms(_timestamp(v)), "point": _point,
    "interval": lambda v: max(-LONG, min(LONG - 1, int(v))),  # Debezium's long, saturated
    "float": lambda v: float(v), "enum": lambda v: v,
    "bytea": lambda v: base64.b64encode(bytes.fromhex(v[2:])).decode(),
}


def expected(rule: str, pg):
    """The decoded value the rule expects of ``pg`` (the column's SELECT); None for null."""
    if pg is None:
        return None
    if not rule.startswith("["):
        return RULES[rule](pg)
    item = rule[1:-1]
    items = json.loads(pg, parse_float=Decimal)
    if item == "json":
        return items  # (array_to_json nests them)
    if item == "enum" and None in items:
        return None  # Debezium: an enum[] item is not optional, a NULL item nulls the column
    if item.startswith("numeric"):
        items = [None if v is None else Decimal(v) for v in items]  # NaN, Infinity arrive as text
        if any(v is not None and not v.is_finite() for v in items):
            return None  # Debezium nulls a numeric[] with a NaN or an infinity, whatever the decimal mode
    return [None if v is None else RULES[item](v) for v in items]


def _exact(number) -> Decimal:
    return Decimal(repr(number)) if type(number) is not Decimal and isinstance(number, float) else Decimal(number)


def same(found, wanted, in_json: bool = False) -> bool:
    """``found`` is ``wanted``: of its type (the engine's infinities are those objects, a float a
    float, a Decimal a Decimal; inside JSON a number of either kind), NaN equal to NaN."""
    if isinstance(wanted, dict):
        return isinstance(found, dict) and found.keys() == wanted.keys() and \
            all(same(found[k], wanted[k], in_json) for k in wanted)
    if isinstance(wanted, list):
        return isinstance(found, list) and len(found) == len(wanted) and \
            all(same(f, w, in_json) for f, w in zip(found, wanted, strict=True))
    if isinstance(wanted, (float, Decimal)) and (in_json or isinstance(found, type(wanted))):
        if isinstance(found, bool) or not isinstance(found, (int, float, Decimal)):
            return False
        return found != found if wanted != wanted else _exact(found) == _exact(wanted)
    return type(found) is type(wanted) and found == wanted and \
        getattr(found, "tzinfo", None) == getattr(wanted, "tzinfo", None)
