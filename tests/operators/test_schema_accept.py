"""schema_accept: the generated quick yes never says yes where the view and fastjsonschema
would say no, so every verdict and reason stays what it was; and on the usual events (plain
values, valid) it does say yes."""

import copy
import glob
import itertools
import json
import math
import os
import random
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.jsonschemas import EventSchema
from engine.operators.schema_view import round_trip
from engine.operators.validate import split_valid
from engine.values import INFINITY, MINUS_INFINITY
from tests.operators.test_schema_view import instance

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SHIPPED = sorted(glob.glob(f"{ROOT}/schemas/domain/*.json") + glob.glob(f"{ROOT}/schemas/business/*.json"))
NAMES = ["a", "b", "op", "é", "__class__"]
STRINGS = ["c", "u", "", "é\u0301", "\ud800", "2024-03-04T05:03:34Z", "2024-02-30T05:03:34Z", "2024-03-04",
           "a@b.cd", "12345678-1234-1234-1234-123456789abc", "1"]
_files = itertools.count()


def schemas(path_dir):
    """Both checks of one schema: (with the quick yes, without it)."""
    def load(schema):
        path = os.path.join(path_dir, f"s{next(_files)}.json")
        with open(path, "w") as handle:
            json.dump(schema, handle)
        quick, slow = EventSchema(path), EventSchema(path)
        slow.accept = None
        return quick, slow
    return load


SCALARS = st.one_of(
    st.sampled_from(STRINGS), st.text(max_size=4), st.integers(min_value=-3, max_value=3),
    st.sampled_from([10 ** 19, -(10 ** 19) - 7, 2 ** 64, 2 ** 63]), st.booleans(), st.none(),
    st.sampled_from([0.5, -0.0, 1e300, 2.0, math.nan, math.inf, -math.inf]),
    st.sampled_from([Decimal("1.50"), Decimal("2"), Decimal("NaN"), datetime(2024, 3, 4, 5, 3, 34, tzinfo=timezone.utc),
                     date(2024, 3, 5), b"x", ("a",), frozenset()]),
)
MOMENTS = st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=2)), None])) | st.sampled_from(
    [INFINITY, MINUS_INFINITY, datetime(1, 1, 1, tzinfo=timezone.utc), datetime(2000, 2, 29, 23, 59, 59, 999999,
                                                                                tzinfo=timezone.utc)])
VALUES = st.recursive(SCALARS | MOMENTS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(NAMES), inner, max_size=4),
    st.dictionaries(st.sampled_from(NAMES), inner, max_size=3).map(OrderedDict),
), max_leaves=12)

LIMITS = st.sampled_from([0, 1, 2, -1, 1.5, 10 ** 20, True, "1", None])
TYPES = st.sampled_from(["string", "integer", "number", "boolean", "null", "object", "array", "nope"])


@st.composite
def keywords(draw, children):
    schema = {}
    if draw(st.booleans()):
        schema["type"] = draw(st.one_of(TYPES, st.lists(TYPES, min_size=1, max_size=3)))
    for word, values in (("enum", st.lists(st.one_of(st.sampled_from(STRINGS), st.integers(-2, 2), st.none(),
                                                      st.booleans()), max_size=3)),
                         ("const", st.one_of(st.sampled_from(STRINGS), st.integers(-2, 2), st.none())),
                         ("format", st.sampled_from(["date-time", "date", "email", "uuid", "unknown", "regex"])),
                         ("minimum", LIMITS), ("maximum", LIMITS), ("minLength", LIMITS), ("maxLength", LIMITS),
                         ("minItems", LIMITS), ("maxItems", LIMITS),
                         ("required", st.lists(st.sampled_from(NAMES), max_size=3)),
                         ("description", st.just("d")), ("default", st.sampled_from([1, "x", None])),
                         ("pattern", st.just("^a")), ("additionalProperties", st.booleans()),
                         ("anyOf", st.just([{"type": "string"}, {"type": "integer"}])),
                         ("exclusiveMinimum", st.just(0)), ("$ref", st.just("#"))):
        if draw(st.integers(0, 9)) == 0:
            schema[word] = draw(values)
    if draw(st.integers(0, 2)) == 0:
        schema["properties"] = draw(st.dictionaries(st.sampled_from(NAMES), children, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        schema["items"] = draw(children)
    return schema


SCHEMAS = st.recursive(st.one_of(st.booleans(), keywords(st.just({}))), keywords, max_leaves=8)


def reasons(quick, slow, value):
    """The reasons both give (each on its own copy: a ``default`` may be written into it)."""
    return quick.violation(copy.deepcopy(value)), slow.violation(copy.deepcopy(value))


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(schema=SCHEMAS, values=st.lists(VALUES, min_size=1, max_size=6))
def test_random_schemas_and_values_get_the_same_verdicts_and_reasons(tmp_path_factory, schema, values):
    try:
        quick, slow = schemas(str(tmp_path_factory.getbasetemp()))({"type": "object", "properties": {"p": schema},
                                                                     "required": ["p"]})
    except Exception:  # noqa: BLE001 - a schema fastjsonschema refuses: nothing to compare
        return
    events = [{"p": value} for value in values]
    for event in events:
        fast, full = reasons(quick, slow, event)
        assert fast == full, (schema, event, quick.accept.source if quick.accept else None)
    ok_quick, dead_quick = split_valid("s", quick, copy.deepcopy(events))
    ok_slow, dead_slow = split_valid("s", slow, copy.deepcopy(events))
    assert ok_quick == ok_slow and [d.error for d in dead_quick] == [d.error for d in dead_slow]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=VALUES, path=st.sampled_from([os.path.basename(p) for p in SHIPPED]))
def test_the_shipped_schemas_on_random_values_give_the_same_verdicts(path, value):
    quick = EventSchema(next(p for p in SHIPPED if p.endswith(path)))
    slow = EventSchema(next(p for p in SHIPPED if p.endswith(path)))
    slow.accept = None
    assert reasons(quick, slow, value)[0] == reasons(quick, slow, value)[1]


def test_the_domain_event_schema_says_yes_at_once_to_its_usual_events():
    schema = EventSchema(f"{ROOT}/schemas/domain/transport_order.schema.json")
    assert schema.accept is not None
    rng = random.Random(1)
    spec = json.load(open(f"{ROOT}/schemas/domain/transport_order.schema.json"))
    events = [round_trip(instance(spec, rng)) for _ in range(200)]  # valid, in their JSON form
    assert all(schema.accept(e) for e in events)
    row = {"id": 7, "weight": Decimal("1.5")}  # rows are only type-checked: what they hold does not matter
    assert schema.accept({**events[0], "changes": [{"table": "note", "op": "u", "before": row, "after": row,
                                                    "changed": ["weight"]}]})
    assert not schema.accept({**events[0], "position": Decimal("3")})  # not sure: the full check tells (valid)
    assert schema.violation({**events[0], "position": Decimal("3")}) is None
    assert "must be date-time" in schema.violation({**events[0], "occurred_at": "2024-02-30T00:00:00Z"})
    assert schema.accept({**events[0], "occurred_at": datetime(2026, 12, 1, tzinfo=timezone.utc)})  # as map makes it
    assert not schema.accept({**events[0], "occurred_at": datetime(2026, 12, 1)})  # no offset: not a date-time


def test_schemas_outside_the_subset_take_the_full_check_at_the_root(tmp_path):
    load = schemas(str(tmp_path))
    assert load({"anyOf": [{"type": "object"}]})[0].accept is None
    assert load({"type": "object", "default": {}})[0].accept is None
    inner = load({"type": "object", "properties": {"a": {"$ref": "#/properties/b"}, "b": {"type": "string"}}})[0]
    assert inner.accept({"b": "x"}) and not inner.accept({"a": "x"})  # unsure only where it meets $ref


def test_an_absent_property_with_a_default_is_not_a_quick_yes(tmp_path):
    """fastjsonschema writes an absent property's default into the event: the quick yes must
    not skip that (Hypothesis found it: an object valid as it came, but not left as it came)."""
    quick, slow = schemas(str(tmp_path))({"type": "object", "properties": {"p": {
        "type": "object", "properties": {"a": {"type": "integer", "default": 1}, "b": {"type": "string"}}}}})
    assert not quick.accept({"p": {}}) and not quick.accept({"p": {"a": 2}})
    assert quick.accept({"x": 1})  # no object there: nothing to fill in
    ok_quick, _ = split_valid("s", quick, [{"p": {}}, {"p": {"b": "x"}}])
    ok_slow, _ = split_valid("s", slow, [{"p": {}}, {"p": {"b": "x"}}])
    assert ok_quick == ok_slow == [{"p": {"a": 1}}, {"p": {"b": "x", "a": 1}}]


class _Text(str):
    """A str subclass (as text from the environment is): JSON's text of it is the same string."""


def test_str_subclasses_and_missing_properties_get_the_full_checks_verdicts():
    schema = EventSchema(f"{ROOT}/schemas/domain/transport_order.schema.json")
    slow = EventSchema(f"{ROOT}/schemas/domain/transport_order.schema.json")
    slow.accept = None
    spec = json.load(open(f"{ROOT}/schemas/domain/transport_order.schema.json"))
    event = round_trip(instance(spec, random.Random(2)))
    change = {"table": _Text("note"), "op": _Text("u"), "before": {}, "after": {}, "changed": [_Text("id"), "x"]}
    cases = [{**event, "type": _Text("TransportOrderCreated"), "changes": [change], "changed_tables": [_Text("note")]},
             {**event, "changes": [{**change, "table": _Text("elsewhere")}]},  # not a member: invalid
             {**event, "changes": [{**change, "changed": ["id", 7]}]},  # an item not a str: invalid
             {**event, "changes": [{**change, "op": ["u"]}]},  # unhashable: not sure, then invalid
             {k: v for k, v in event.items() if k != "tx_id"},  # a required property missing
             {**event, "changes": [{k: v for k, v in change.items() if k != "before"}]}]
    verdicts = [(schema.violation(copy.deepcopy(e)), slow.violation(copy.deepcopy(e))) for e in cases]
    assert all(fast == full for fast, full in verdicts), verdicts
    assert verdicts[0][0] is None and all(fast is not None for fast, _ in verdicts[1:])
    assert schema.accept(cases[0])  # the quick yes, with no full check
