"""unnest: dead letters grow with the input, never with the input times its items."""

import json

from engine.operators.unnest import Unnest


def flat():
    return Unnest("u", {"field": "changes", "as": None, "keep": ["tx"]}, None)


def test_an_event_of_20000_non_objects_is_one_dead_letter_carrying_it_once():
    event = {"tx": 1, "changes": list(range(20000))}
    oks, deads = flat().process([event])
    assert oks == [] and len(deads) == 1 and deads[0].event is event
    assert deads[0].error == "'changes': 20000 of 20000 items are not objects (first at index 0: int)"
    size_in = len(json.dumps(event))
    assert len(json.dumps([d.to_record() for d in deads])) < size_in + 500  # linear: the event once


def test_good_items_of_a_mixed_list_go_on_and_the_dead_letter_says_how_many_failed():
    event = {"tx": 2, "changes": [{"a": 1}, "x", {"b": 2}, None, [3]]}
    oks, deads = flat().process([event, {"tx": 3, "changes": [{"c": 3}]}])
    assert oks == [{"tx": 2, "a": 1}, {"tx": 2, "b": 2}, {"tx": 3, "c": 3}]
    assert [(d.event, d.error) for d in deads] == [
        (event, "'changes': 3 of 5 items are not objects (first at index 1: str); the other 2 went on")]


def test_with_an_alias_any_item_goes_on_and_a_non_list_is_one_dead_letter():
    step = Unnest("u", {"field": "changes", "as": "change"}, None)
    oks, deads = step.process([{"changes": [1, "x", None]}, {"changes": {"a": 1}}, {"changes": None}])
    assert oks == [{"change": 1}, {"change": "x"}, {"change": None}]
    assert [d.error for d in deads] == ["'changes' is not a list: dict"]
