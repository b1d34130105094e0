"""What expressions compute, including SQL null semantics, over real event dicts."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.expressions import compile_expression

EVENT = {
    "status": "NEW", "weight": 12, "price": Decimal("10.50"), "ratio": 0.5, "name": "  Ada Lovelace ",
    "missing_is_null": None, "flag": True, "tags": ["a", "b"],
    "at": datetime(2024, 3, 5, 14, 30, 15, tzinfo=timezone.utc), "day": date(2024, 3, 5),
    "dest": {"city": "Milano", "stops": [{"id": 1}, {"id": 2}]}, "weird name": 7,
}

FIELDS = {
    "status": "str", "weight": "int", "price": "decimal(10,2)", "ratio": "float", "name": "str",
    "missing": "any", "flag": "bool", "tags": "json", "at": "timestamp", "day": "date", "dest": "json",
    "weird name": "int", "nothing": "any", "nothing_at_all": "any",
}

VALUES = [
    ("weight + 1", 13), ("weight - 2 * 3", 6), ("(weight - 2) * 3", 30), ("weight / 8", 1.5),
    ("weight % 5", 2), ("-weight", -12), ("price * 2", Decimal("21.00")), ("price + 0.1", Decimal("10.60")),
    ("price > 10.4", True), ("ratio * 2", 1.0), ("'a' + 'b'", "ab"),
    ("dest.city", "Milano"), ("dest.stops[1].id", 2), ("dest.stops[-1].id", 2), ("dest.stops[5].id", None),
    ("dest['city']", "Milano"), ("dest.nothing.deeper", None), ("`weird name` * 2", 14),
    ("tags[0]", "a"), ("split('a,b', ',')[1]", "b"),
    ("upper(status)", "NEW"), ("lower(status)", "new"), ("trim(name)", "Ada Lovelace"),
    ("length(trim(name))", 12), ("length(tags)", 2), ("substr('abcdef', 1, 3)", "bcd"), ("substr('abcdef', 4)", "ef"),
    ("replace(status, 'E', 'O')", "NOW"), ("contains(name, 'Love')", True), ("contains(tags, 'c')", False),
    ("starts_with(status, 'N')", True), ("ends_with(status, 'X')", False), ("join(tags, '-')", "a-b"),
    ("concat(status, '-', weight, missing)", "NEW-12"), ("matches(status, '^N.W$')", True),
    ("extract('order-42', '(\\\\d+)')", "42"), ("extract('abc', '\\\\d')", None),
    ("str(weight)", "12"), ("str(flag)", "true"), ("int('42')", 42), ("float(weight)", 12.0),
    ("decimal('1.10') + price", Decimal("11.60")), ("bool('yes')", True),
    ("abs(-3)", 3), ("round(price, 0)", Decimal("11")), ("round(2.5)", 3.0), ("round(7)", 7),
    ("floor(ratio)", 0), ("ceil(ratio)", 1), ("least(3, missing, 1)", 1), ("greatest(weight, 20)", 20),
    ("year(at)", 2024), ("month(day)", 3), ("day(at)", 5), ("hour(at)", 14), ("minute(at)", 30), ("second(at)", 15),
    ("weekday(day)", 2), ("time_trunc(at, 'hour')", datetime(2024, 3, 5, 14, tzinfo=timezone.utc)),
    ("format_time(at, '%Y/%m/%d')", "2024/03/05"), ("epoch_ms(from_epoch(1700000000123, 'ms'))", 1700000000123),
    ("from_epoch(-1001, 'ms')", datetime(1969, 12, 31, 23, 59, 58, 999000, tzinfo=timezone.utc)),
    ("from_epoch(1700000000123456, 'us')", datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)),
    ("from_epoch('1700000000.5', 's')", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=timezone.utc)),
    ("at + minutes(30)", datetime(2024, 3, 5, 15, 0, 15, tzinfo=timezone.utc)),
    ("at - timestamp('2024-03-05T14:00:00Z')", timedelta(minutes=30, seconds=15)),
    ("total_seconds(hours(1) + seconds(1))", 3601.0), ("date(at)", date(2024, 3, 5)),
    ("at > '2024-03-05T00:00:00Z'", True), ("day == '2024-03-05'", True),
    ("json_parse('{\"a\": [1]}').a[0]", 1), ("nullif(status, 'NEW')", None), ("nullif(weight, 1)", 12),
    ("coalesce(missing, nothing, 'x')", "x"), ("missing ?? weight", 12), ("if(weight > 10, 'big', 'small')", "big"),
    ("if(missing > 10, 'big', 'small')", "small"), ("status in ['NEW', 'PLANNED']", True),
    ("status not in ['NEW']", False), ("'a' in tags", True), ("'Ada' in name", True),
    ("missing is null", True), ("weight is not null", True), ("nothing_at_all is null", True),
]


@pytest.mark.parametrize("text,expected", VALUES, ids=[v[0] for v in VALUES])
def test_value(text, expected):
    result = compile_expression(text, FIELDS)(EVENT)
    assert result == expected and type(result) is type(expected)


def test_untyped_fields_compare_at_run_time():
    assert compile_expression("weight > 10")(EVENT) is True
    with pytest.raises(TypeError, match="'>' not supported"):
        compile_expression("at > '2024-03-05T00:00:00Z'")(EVENT)  # no field types: no literal coercion


NULLS = [
    ("missing + 1", None), ("-missing", None), ("upper(missing)", None), ("missing > 1", None),
    ("missing == missing", None), ("missing in ['a']", None),
    ("missing > 1 and false", False), ("missing > 1 and true", None), ("missing > 1 or true", True),
    ("missing > 1 or false", None), ("not (missing > 1)", None), ("not flag", False),
]


@pytest.mark.parametrize("text,expected", NULLS, ids=[v[0] for v in NULLS])
def test_null_semantics_are_sql_three_valued(text, expected):
    assert compile_expression(text)(EVENT) is expected


PREDICATES = [
    ("weight > 10", True), ("weight > 20", False), ("missing > 1", False), ("not (missing > 1)", False),
    ("not (weight > 20)", True), ("missing > 1 or weight > 1", True), ("not (missing > 1 and false)", True),
    ("not (missing > 1 or flag)", False), ("flag", True), ("missing", False), ("not missing", False),
    ("missing is null and not (status != 'NEW')", True), ("if(missing, true, false)", False),
]


@pytest.mark.parametrize("text,expected", PREDICATES, ids=[v[0] for v in PREDICATES])
def test_predicate_is_true_exactly_when_the_value_is_true(text, expected):
    expression = compile_expression(text)
    assert expression.holds(EVENT) is expected
    assert (expression(EVENT) is True) is expected


def test_now_is_read_per_evaluation_not_folded():
    expression = compile_expression("now()")
    before = datetime.now(timezone.utc)
    assert before <= expression({}) <= datetime.now(timezone.utc)


def test_uuid5_is_deterministic_and_distinguishes_values():
    expression = compile_expression("uuid5('order', id)")
    assert expression({"id": 1}) == expression({"id": 1})
    assert expression({"id": 1}) != expression({"id": 2})


def test_uuid5_is_the_standard_name_based_uuid_of_the_joined_values():
    import random
    import uuid

    expression = compile_expression("uuid5('order', id)")
    rng = random.Random(5)
    for _ in range(2000):  # ids of every length, with non-ASCII characters
        text = "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 40)))
        assert expression({"id": text}) == str(uuid.uuid5(uuid.NAMESPACE_URL, f"order\x1f{text}"))


def test_literal_calls_are_evaluated_once_at_load_time():
    assert compile_expression("upper('abc')").python == "'ABC'"


def test_static_types_follow_known_fields():
    fields = {"n": "int", "p": "decimal(10,2)", "t": "timestamp", "s": "str"}
    assert compile_expression("n / 2", fields).type == "float"
    assert compile_expression("p * n", fields).type == "decimal"
    assert compile_expression("p", fields).type == "decimal(10,2)"
    assert compile_expression("t - t", fields).type == "duration"
    assert compile_expression("upper(s) == 'X'", fields).type == "bool"
    assert compile_expression("coalesce(n, 0)", fields).type == "int"
    assert compile_expression("n", fields).fields == frozenset({"n"})
