"""Stateless operators on batches: good events out, bad events dead-lettered with the reason."""

from decimal import Decimal

import pytest

from engine.errors import ConfigError
from engine.operators.cast import Cast
from engine.operators.decode import Decode
from engine.operators.filter import Filter
from engine.operators.key import Key
from engine.operators.map import Map
from engine.operators.route import Branch, Route
from engine.operators.union import Union
from engine.records import RawBatch


def test_cast_converts_and_dead_letters_the_field_and_value():
    cast = Cast("c", {"fields": {"n": "int", "w": "decimal(5,1)"}}, None)
    events = [{"n": "1", "w": "2.25"}, {"n": "x", "w": "1"}, {"n": None, "w": None}]
    oks, deads = cast.process(events)
    assert oks == [{"n": 1, "w": Decimal("2.3")}, {"n": None, "w": None}]
    assert [(d.step, d.error, d.event) for d in deads] == [
        ("c", "cannot cast field 'n' value 'x' to int: invalid literal for int() with base 10: 'x'", events[1])]
    assert events[0] == {"n": "1", "w": "2.25"}, "the input event is not modified"


def test_cast_nested_path_and_on_error_null():
    cast = Cast("c", {"fields": {"a.b": "int"}, "on_error": "null"}, None)
    event = {"a": {"b": "oops", "c": 1}}
    oks, deads = cast.process([event, {"a": 5}])
    assert oks == [{"a": {"b": None, "c": 1}}, {"a": 5}] and deads == []
    assert event == {"a": {"b": "oops", "c": 1}}


def test_cast_reports_fields_it_types():
    assert Cast("c", {"fields": {"n": "timestamp(ms)"}}, {"n": "any", "s": "str"}).output_fields == \
        {"n": "timestamp", "s": "str"}


def test_filter_keeps_only_true_and_isolates_events_that_fail():
    keep = Filter("f", "weight > 1", None)
    events = [{"weight": 2}, {"weight": None}, {"weight": "heavy"}, {"weight": 0}, {}]
    oks, deads = keep.process(events)
    assert oks == [{"weight": 2}]
    assert [(d.event, d.error) for d in deads] == [
        ({"weight": "heavy"}, "'>' not supported between instances of 'str' and 'int'")]


def test_map_keep_rename_drop_fields_and_key():
    step = Map("m", {"keep": "all", "rename": {"a": "x"}, "drop": ["b"],
                     "fields": {"sum": "a + c", "nested.deep": "c * 2", "c": "a", "y": "x"}, "key": "c"}, None)
    oks, deads = step.process([{"a": 1, "b": 2, "c": 3}])
    assert deads == []
    # computed fields read the input event: 'x' exists only in the output, 'c' is the old c
    assert oks == [{"x": 1, "c": 1, "sum": 4, "y": None, "nested": {"deep": 6}, "_key": "3"}]


def test_map_computes_on_the_input_so_fields_can_swap():
    oks, _ = Map("m", {"fields": {"a": "b", "b": "a"}}, None).process([{"a": 1, "b": 2}])
    assert oks == [{"a": 2, "b": 1}]


def test_map_dead_letters_events_whose_expression_fails():
    oks, deads = Map("m", {"fields": {"u": "upper(s)"}}, None).process([{"s": "a"}, {"s": 5}])
    assert oks == [{"u": "A"}]
    assert deads[0].error == "upper() argument 1 needs str, got int 5"


def test_map_schema_violations_are_dead_lettered(tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}')
    oks, deads = Map("m", {"keep": "all", "schema": str(schema)}, None).process([{"id": 1}, {"id": "x"}])
    assert oks == [{"id": 1}]
    assert deads[0].error.startswith(f"schema violation ({schema}): data.id must be integer")


def test_map_rejects_unknown_kept_field_when_fields_are_known():
    with pytest.raises(ConfigError) as caught:
        Map("m", {"keep": ["a", "bb"]}, {"a": "int", "b": "int"})
    assert (caught.value.message, caught.value.path, caught.value.hint) == \
        ("unknown field 'bb'", ("keep", 1), "did you mean 'b'?")


def test_key_sets_a_string_key():
    oks, _ = Key("k", "id", None).process([{"id": 7}, {"id": None}])
    assert [e["_key"] for e in oks] == ["7", None]


def test_route_sends_to_first_match_and_branch_to_every_match():
    config = {"when": {"big": "n > 10", "even": "n % 2 == 0"}, "otherwise": "rest"}
    events = [{"n": 12}, {"n": 4}, {"n": 3}, {"n": None}, {"n": "x"}]
    routed, deads = Route("r", config, None).process(events)
    assert routed == {"big": [{"n": 12}], "even": [{"n": 4}], "rest": [{"n": 3}, {"n": None}]}
    assert [d.event for d in deads] == [{"n": "x"}]
    branched, _ = Branch("b", config, None).process(events[:2])
    assert branched == {"big": [{"n": 12}], "even": [{"n": 12}, {"n": 4}], "rest": []}


def test_union_merges_known_fields():
    union = Union("u", ["a", "b"], {"x": "int", "y": "str"})
    assert union.output_fields == {"x": "int", "y": "str"}


def test_decode_dead_letters_malformed_lines_with_their_position():
    raw = RawBatch([b'{"a": 1}', b'{"a": ', b"[1, 2]", b'{"a": 2}'], "in.jsonl", first_offset=10)
    events, deads = Decode("orders:decode").process(raw)
    assert events == [{"a": 1}, {"a": 2}]
    assert [(d.origin, d.event, d.error.split(":")[0]) for d in deads] == [
        ("in.jsonl:11", '{"a": ', "malformed JSON"), ("in.jsonl:12", "[1, 2]", "expected a JSON object, got an array")]


def test_unnest_emits_one_event_per_item_with_kept_fields():
    from engine.operators.unnest import Unnest

    step = Unnest("u", {"field": "changes", "as": "change", "keep": ["tx"]}, None)
    oks, deads = step.process([{"tx": 1, "changes": [{"a": 1}, {"a": 2}]}, {"tx": 2, "changes": None},
                               {"tx": 3, "changes": "x"}])
    assert oks == [{"tx": 1, "change": {"a": 1}}, {"tx": 1, "change": {"a": 2}}]
    assert [d.error for d in deads] == ["'changes' is not a list: str"]
    flat, _ = Unnest("u", {"field": "changes", "as": None, "keep": ["tx"]}, None).process(
        [{"tx": 1, "changes": [{"a": 1}]}])
    assert flat == [{"tx": 1, "a": 1}]
