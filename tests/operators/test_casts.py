from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from engine.values import converter


@pytest.mark.parametrize("type_name,value,expected", [
    ("int", "42", 42), ("int", 7.0, 7), ("int", Decimal("3"), 3), ("int", " 12 ", 12),
    ("float", "2.5", 2.5), ("float", 3, 3.0),
    ("bool", "yes", True), ("bool", "F", False), ("bool", 1, True), ("bool", False, False),
    ("str", 12, "12"), ("str", {"a": 1}, '{"a":1}'), ("str", True, "true"),
    ("decimal(10,2)", "12.345", Decimal("12.35")), ("decimal(10,2)", 0.1, Decimal("0.10")),
    ("decimal(10,2)", -7, Decimal("-7.00")),
    ("timestamp", "2026-11-02T06:00:00Z", datetime(2026, 11, 2, 6, tzinfo=timezone.utc)),
    ("timestamp", "2026-11-02T08:00:00+02:00", datetime(2026, 11, 2, 6, tzinfo=timezone.utc)),
    ("timestamp", "2026-11-02 06:00:00", datetime(2026, 11, 2, 6, tzinfo=timezone.utc)),
    ("timestamp(ms)", 1_700_000_000_123, datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)),
    ("timestamp(us)", 1_700_000_000_000_001, datetime(2023, 11, 14, 22, 13, 20, 1, tzinfo=timezone.utc)),
    ("timestamp(s)", 0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
    ("date", "2026-11-02", date(2026, 11, 2)),
    ("json", '{"a": [1]}', {"a": [1]}),
])
def test_converts(type_name, value, expected):
    assert converter(type_name)(value) == expected


@pytest.mark.parametrize("type_name,value,reason", [
    ("int", "12.5", "invalid literal"), ("int", 2.5, "fractional"), ("int", True, "booleans"),
    ("float", "abc", "could not convert"), ("bool", "maybe", "expected true/false"),
    ("decimal(4,2)", "123.4", "does not fit decimal(4,2)"), ("decimal(10,2)", "n/a", "not a number"),
    ("decimal(10,2)", "NaN", "not a finite number"),
    ("timestamp", 1700000000, "timestamp(s), timestamp(ms) or timestamp(us)"),
    ("timestamp", "yes terday", "not an ISO-8601 timestamp: 'yes terday'"), ("json", "{", "malformed JSON"),
])
def test_rejects_with_reason(type_name, value, reason):
    with pytest.raises(ValueError) as info:
        converter(type_name)(value)
    assert reason in str(info.value)


def test_decimal_scale_above_precision_is_refused():
    with pytest.raises(ValueError, match="scale must be at most the precision"):
        converter("decimal(2,5)")
