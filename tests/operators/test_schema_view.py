"""schema_view: the validator sees what the full JSON round trip would show it, while rows the
schema only type-checks are not converted at all."""

import functools
import glob
import json
import math
import os
import random
from datetime import date, datetime, timezone
from decimal import Decimal

import fastjsonschema
import pytest

from engine.operators.schema_view import compile_view, round_trip

ROW = {"id": 7, "weight": Decimal("12.500"), "created_at": datetime(2024, 3, 4, 5, 3, 34, tzinfo=timezone.utc)}
CHANGES_SCHEMA = {
    "type": "object", "required": ["changes"],
    "properties": {
        "occurred_at": {"type": "string", "format": "date-time"},
        "total": {"type": "number", "minimum": 0},
        "changes": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["op"],
            "properties": {"op": {"enum": ["c", "u", "d"]}, "before": {"type": ["object", "null"]},
                           "after": {"type": ["object", "null"]}}}},
    },
}


def outcome(schema, value):
    try:
        validator(json.dumps(schema))(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        return exc.message
    return "valid"


@functools.lru_cache(maxsize=None)
def validator(schema_text):
    return fastjsonschema.compile(json.loads(schema_text))


def test_type_checked_rows_are_left_alone_and_the_event_is_not_changed():
    event = {"occurred_at": ROW["created_at"], "total": Decimal("3.10"),
             "changes": [{"op": "u", "before": ROW, "after": dict(ROW, weight=Decimal("13"))}]}
    seen = compile_view(CHANGES_SCHEMA)(event)
    assert seen["occurred_at"] == "2024-03-04T05:03:34+00:00" and seen["total"] == 3.1
    assert seen["changes"] is event["changes"] and seen["changes"][0]["before"] is ROW
    assert event["total"] == Decimal("3.10") and isinstance(event["occurred_at"], datetime)


def test_keywords_that_compare_whole_values_get_the_full_round_trip():
    schema = {"properties": {"point": {"const": {"x": 1.5}}, "tags": {"enum": [["a"]]}}}
    event = {"point": {"x": Decimal("1.5")}, "tags": ("a",)}
    assert compile_view(schema)(event) == {"point": {"x": 1.5}, "tags": ["a"]}
    assert outcome(schema, compile_view(schema)(event)) == "valid"


def test_values_json_cannot_carry_become_what_json_makes_of_them():
    view = compile_view({"properties": {"n": {"type": "number"}}})
    assert view({"n": math.nan}) == {"n": None}  # orjson writes NaN as null
    assert view({"n": 2.5})["n"] == 2.5 and view({"n": Decimal("4")})["n"] == 4


def random_value(rng, depth=0):
    kinds = ["str", "int", "float", "decimal", "datetime", "date", "none", "bool", "nan"]
    if depth < 3:
        kinds += ["dict", "list"] * 2
    kind = rng.choice(kinds)
    if kind == "dict":
        return {rng.choice(["op", "id", "before", "after", "x", "n"]): random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 4))}
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {"str": lambda: rng.choice(["c", "u", "x", "2024-03-04T05:03:34Z"]), "int": lambda: rng.randint(-3, 3),
            "float": lambda: rng.choice([0.5, -1.0, 1e300]), "decimal": lambda: Decimal(rng.choice(["1.50", "-2", "0"])),
            "datetime": lambda: ROW["created_at"], "date": lambda: date(2024, 3, 5), "none": lambda: None,
            "bool": lambda: rng.random() < 0.5, "nan": lambda: math.nan}[kind]()


ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SHIPPED = sorted(glob.glob(f"{ROOT}/schemas/domain/*.json") + glob.glob(f"{ROOT}/schemas/business/*.json"))


def test_the_shipped_schemas_are_found():
    assert len(SHIPPED) == 8


def instance(schema, rng):
    """A value ``schema`` accepts once converted to JSON, often holding a Decimal or a datetime."""
    if "anyOf" in schema or "oneOf" in schema:  # one branch, with the schema's own keywords
        branch = rng.choice(schema.get("anyOf") or schema["oneOf"])
        return instance({**{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}, **branch}, rng)
    if "const" in schema or "enum" in schema:
        return schema["const"] if "const" in schema else rng.choice(schema["enum"])
    kinds = schema.get("type", "string")
    kind = rng.choice(kinds) if isinstance(kinds, list) else kinds
    if kind == "object":
        props = schema.get("properties", {})
        names = set(schema.get("required", [])) | {n for n in props if rng.random() < 0.5}
        return {n: instance(props.get(n, {}), rng) for n in sorted(names)}
    if kind == "array":
        return [instance(schema.get("items", {}), rng) for _ in range(schema.get("minItems", 0) + rng.randint(0, 2))]
    if schema.get("format") == "date-time":
        return rng.choice(["2024-03-04T05:03:34Z", ROW["created_at"]])
    return {"string": "x", "integer": rng.choice([1, Decimal("2")]), "number": rng.choice([1.5, Decimal("2.50")]),
            "boolean": True, "null": None}[kind]


def mutated(value, rng):
    """``value`` with a few parts replaced by random ones (so some events are invalid, deep down)."""
    if rng.random() < 0.08:
        return random_value(rng)
    if type(value) is dict:
        return {k: mutated(v, rng) for k, v in value.items()}
    if type(value) is list:
        return [mutated(v, rng) for v in value]
    return value


@pytest.mark.parametrize("path", [os.path.basename(p) for p in SHIPPED] + ["inline"])
def test_on_random_events_the_validator_reaches_the_same_verdict_as_with_the_full_round_trip(path):
    schema = CHANGES_SCHEMA if path == "inline" else json.load(open(next(p for p in SHIPPED if p.endswith(path))))
    view, rng = compile_view(schema), random.Random(path)
    verdicts = []
    for _ in range(300):
        event = mutated(instance(schema, rng), rng)
        expected = outcome(schema, round_trip(event))
        assert outcome(schema, view(event)) == expected, event
        verdicts.append(expected == "valid")
    assert 30 < sum(verdicts) < 270  # both verdicts, many times: the comparison means something


def test_integers_beyond_64_bits_reach_the_validator_exactly(tmp_path):
    """Decode keeps such integers exact; orjson cannot write them: the round trip must not fail."""
    from engine.operators.jsonschemas import EventSchema

    big = 10 ** 30
    assert round_trip({"a": [big, -big, Decimal("1.5")], "b": 1}) == {"a": [big, -big, 1.5], "b": 1}
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "object", "properties": {"n": {"enum": [1, 2]}, "m": {"maximum": 10}}}))
    schema = EventSchema(str(path))
    assert schema.violation({"n": 1, "m": 5}) is None
    assert "must be one of" in schema.violation({"n": [big], "m": 5})  # a verdict, not an exception
    assert "must be smaller than or equal to 10" in schema.violation({"n": 1, "m": big})


def test_an_event_the_validator_cannot_take_is_a_reason_not_an_exception(tmp_path):
    from engine.operators.jsonschemas import EventSchema

    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "object", "properties": {"n": {"const": 1}}}))
    deep = [1]
    for _ in range(2000):
        deep = [deep]
    reason = EventSchema(str(path)).violation({"n": deep, "x": {1, 2}})
    assert reason.startswith(f"cannot be validated against {path}: ")


def test_an_infinite_timestamp_is_validated_as_the_text_sinks_write():
    from engine.values import INFINITY, MINUS_INFINITY

    view = compile_view({"properties": {"at": {"anyOf": [{"type": "string", "format": "date-time"},
                                                         {"enum": ["infinity", "-infinity"]}]}}})
    assert view({"at": INFINITY}) == {"at": "infinity"} and view({"at": MINUS_INFINITY}) == {"at": "-infinity"}


def test_an_object_of_plain_values_is_looked_into_only_where_the_schema_looks():
    """The fast path (every value a native scalar, object or array): a row the schema only
    type-checks is left alone, an enum compared as JSON gets the round trip, a list of names
    is given back as it is; the event itself is never changed."""
    schema = {"properties": {"row": {"type": "object"}, "kind": {"enum": [{"a": 1.5}]},
                             "names": {"type": "array", "items": {"type": "string"}},
                             "nested": {"properties": {"w": {"type": "number"}}}}}
    event = {"row": ROW, "kind": {"a": Decimal("1.5")}, "names": ["x", "y"], "nested": {"w": Decimal("2.50")},
             "other": Decimal("1")}
    seen = compile_view(schema)(event)
    assert seen == {"row": ROW, "kind": {"a": 1.5}, "names": ["x", "y"], "nested": {"w": 2.5}, "other": Decimal("1")}
    assert seen["row"] is ROW and seen["names"] is event["names"]
    assert event["kind"] == {"a": Decimal("1.5")} and event["nested"] == {"w": Decimal("2.50")}
    assert outcome(schema, seen) == "valid"
    plain = {"row": ROW, "names": ["x"], "n": 1}
    assert compile_view(schema)(plain) is plain
