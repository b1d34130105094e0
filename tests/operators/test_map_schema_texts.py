"""A map's fields of string literals (and ``if``s choosing between them) that the schema surely
accepts are not looked at by its quick yes; any other field still is, and a refused event gets
the same dead letter and reason as without the shortcut."""

import json

from engine.expressions.parser import parse
from engine.operators.jsonschemas import EventSchema
from engine.operators.map import Map, literal_texts
from engine.operators.schema_accept import accepts_texts, compile_accept

SCHEMA = {
    "type": "object",
    "required": ["type", "domain", "note"],
    "properties": {
        "type": {"enum": ["Created", "Updated", "Deleted"]},
        "domain": {"const": "order", "description": "the domain"},
        "note": {"type": "string", "maxLength": 3},
        "level": {"type": ["string", "null"]},
    },
}


def write(tmp_path, schema=SCHEMA):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(schema))
    return str(path)


def test_literal_texts():
    assert literal_texts(parse("'a'")) == {"a"}
    assert literal_texts(parse("if(x == 1, 'a', if(y, 'b', 'a'))")) == {"a", "b"}
    for other in ("1", "null", "x", "'a' + 'b'", "if(x, 'a', y)", "if(x, 'a', 2)", "coalesce(x, 'a')", "true"):
        assert literal_texts(parse(other)) is None, other


def test_accepts_texts():
    assert accepts_texts({"enum": ["a", "b", 1]}, frozenset({"a", "b"}))
    assert accepts_texts({"type": ["null", "string"], "const": "a", "title": "t"}, frozenset({"a"}))
    assert accepts_texts({"type": "string"}, frozenset({"x"}))
    assert accepts_texts({}, frozenset({"x"}))
    assert not accepts_texts({"enum": ["a"]}, frozenset({"a", "b"}))
    assert not accepts_texts({"enum": [1]}, frozenset({"1"}))
    assert not accepts_texts({"const": "a"}, frozenset({"a", "b"}))
    assert not accepts_texts({"type": "integer"}, frozenset({"a"}))
    assert not accepts_texts({"type": "string", "maxLength": 1}, frozenset({"ab"}))
    assert not accepts_texts({"type": "string", "default": "a"}, frozenset({"a"}))
    assert not accepts_texts({"type": "string", "format": "email"}, frozenset({"a"}))
    assert not accepts_texts(True, frozenset({"a"}))
    assert not accepts_texts({"type": "string"}, frozenset())


def test_known_properties_are_not_read():
    accept = compile_accept(SCHEMA, {}, {"type": frozenset({"Created"}), "domain": frozenset({"order"}),
                                         "level": frozenset({"x"}), "note": frozenset({"abcd"})})
    assert "'type'" not in accept.source and "'domain'" not in accept.source and "'level'" not in accept.source
    assert "'note'" in accept.source  # "abcd" is longer than maxLength: still checked
    assert accept({"note": "ab"}) and not accept({"note": "abcd"})


def test_map_skips_only_what_it_proves(tmp_path):
    path = write(tmp_path)
    fields = {"type": "if(op == 'c', 'Created', if(op == 'd', 'Deleted', 'Updated'))", "domain": "'order'",
              "note": "note"}
    step = Map("m", {"fields": fields, "schema": path}, None)
    assert "'type'" not in step.schema.accept.source and "'domain'" not in step.schema.accept.source
    oks, deads = step.process([{"op": "c", "note": "ab"}, {"op": "x", "note": "abcd"}])
    assert oks == [{"type": "Created", "domain": "order", "note": "ab"}] and len(deads) == 1
    plain = EventSchema(path)
    assert deads[0].error == plain.violation({"type": "Updated", "domain": "order", "note": "abcd"})


def test_a_literal_the_schema_refuses_is_still_checked(tmp_path):
    path = write(tmp_path)
    fields = {"type": "if(op == 'c', 'Created', 'Bogus')", "domain": "'orders'", "note": "'ab'"}
    step = Map("m", {"fields": fields, "schema": path}, None)
    assert "'type'" in step.schema.accept.source and "'domain'" in step.schema.accept.source
    assert "'note'" in step.schema.accept.source  # maxLength: a keyword accepts_texts does not prove
    oks, deads = step.process([{"op": "c"}, {"op": "u"}])
    assert oks == [] and len(deads) == 2  # 'orders' is not the const
    plain = EventSchema(path)
    for dead, event in zip(deads, [{"type": "Created", "domain": "orders", "note": "ab"},
                                   {"type": "Bogus", "domain": "orders", "note": "ab"}], strict=True):
        assert dead.error == plain.violation(event) is not None
    step = Map("m", {"fields": {**fields, "domain": "'order'"}, "schema": path}, None)
    oks, deads = step.process([{"op": "c"}, {"op": "u"}])
    assert len(oks) == 1 and deads[0].error == plain.violation({"type": "Bogus", "domain": "order", "note": "ab"})


def test_defaults_and_inlined_types_keep_verdicts():
    schema = {"type": "object", "properties": {"a": {"type": ["object", "null"]}, "b": {"type": "integer"},
                                               "c": {"type": "array", "items": {"type": "string"}}}}
    accept = compile_accept(schema, {})
    assert accept({"a": None, "b": 1, "c": ["x"]}) and accept({"a": {}}) and accept({})
    for bad in ({"a": 1}, {"b": "1"}, {"b": True}, {"c": "x"}, {"a": []}):
        assert not accept(bad), bad


def test_a_literal_field_a_dotted_field_writes_into_is_still_checked(tmp_path):
    """``type.sub`` after ``type`` replaces the text with an object: the schema must see it."""
    path = write(tmp_path)
    step = Map("m", {"fields": {"type": "'Created'", "domain": "'order'", "note": "'ab'", "type.sub": "1"},
                     "schema": path}, None)
    assert "'type'" in step.schema.accept.source and "'domain'" not in step.schema.accept.source
    oks, deads = step.process([{"op": "c"}])
    assert oks == [] and len(deads) == 1
    assert deads[0].error == EventSchema(path).violation({"type": {"sub": 1}, "domain": "order", "note": "ab"})
