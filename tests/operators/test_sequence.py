"""``sequence`` and ``resequence`` (engine/operators/sequence.py): each key's events numbered in
arrival order, and given on in that order after steps that reorder them; a missing number given
up after ``wait``, a late event on at once; nothing lost or doubled, across a snapshot too."""

import pickle
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.operators.sequence import Resequence, Sequence

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
WAIT = timedelta(seconds=10)


def _numbered(events):
    step = Sequence("numbered", {"key": "order_id"}, None)
    groups, dead = step.group(events)
    assert not dead
    logics, out = {}, []
    for key, pairs in groups:
        logic = logics.setdefault(key, step.logic())
        out += logic.add(pairs, T0)[0]
    return out


def test_each_key_is_numbered_from_one_in_arrival_order_and_the_events_are_otherwise_as_they_came():
    events = [{"order_id": o, "v": i} for i, o in enumerate("ABAAB")]
    out = _numbered(events)
    assert sorted((e["order_id"], e["_seq"], e["v"]) for e in out) == [
        ("A", 1, 0), ("A", 2, 2), ("A", 3, 3), ("B", 1, 1), ("B", 2, 4)]
    assert all({k: v for k, v in e.items() if k != "_seq"} in events for e in out)
    assert "_seq" not in events[0]  # a copy: the input event is unchanged


@st.composite
def deliveries(draw):
    """One key's numbered events in a shuffled order, some never delivered (a dead letter
    between the two steps), with the seconds that pass before each arrives."""
    n = draw(st.integers(1, 8))
    numbers = draw(st.permutations(list(range(1, n + 1))))
    lost = set(draw(st.lists(st.sampled_from(numbers), max_size=2, unique=True)))
    gaps = draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))
    restore_at = draw(st.integers(0, n))
    return [(s, gap) for s, gap in zip(numbers, gaps, strict=True) if s not in lost], lost, restore_at


def _run(plan, restore_at=None):
    """Drive one key's logic as the compiler does (add, then due when its timer has passed;
    flush at the end); what it gave on, in order, and when."""
    step = Resequence("in-order", {"key": "order_id", "wait": "10s"}, None)
    logic, now, out = step.logic(), T0, []
    for index, (number, gap) in enumerate(plan):
        now += timedelta(seconds=gap)
        if logic.next_notification() is not None and logic.next_notification() <= now:
            out += [(e["_seq"], now) for e in logic.due(now)[0]]
        if index == restore_at:
            logic = step.logic(pickle.loads(pickle.dumps(logic.state())))
            logic.resume(now)
        given_on, dead = logic.add([("O1", {"order_id": "O1", "_seq": number})], now)
        assert not dead
        out += [(e["_seq"], now) for e in given_on]
    out += [(e["_seq"], None) for e in logic.flush()[0]]
    return out


@PROPERTY
@given(deliveries())
def test_every_event_goes_on_once_in_order_unless_it_came_after_its_place_was_given_up(case):
    plan, lost, restore_at = case
    for restore in (None, restore_at):
        out = _run(plan, restore)
        numbers = [s for s, _ in out]
        assert sorted(numbers) == sorted(s for s, _ in plan)  # none lost, none doubled
        if not lost and all(gap == 0 for _, gap in plan[1:]):
            assert numbers == sorted(numbers)  # all within the wait: exactly in order
        late = [s for i, s in enumerate(numbers) if any(s < t for t in numbers[:i])]
        for s in late:  # out of order only if its place was given up: it came after a later number's wait
            arrived = sum(gap for t, gap in plan[:[t for t, _ in plan].index(s) + 1])
            later = [t for t in numbers[:numbers.index(s)] if t > s]
            first_later = min(sum(gap for t, gap in plan[:[t for t, _ in plan].index(u) + 1]) for u in later)
            assert arrived >= first_later + WAIT.total_seconds() or restore is not None


def test_a_held_event_waits_for_its_predecessor_and_both_go_on_in_order():
    step = Resequence("in-order", {"key": "order_id", "wait": "10s"}, None)
    logic = step.logic()
    assert logic.add([("O1", {"order_id": "O1", "_seq": 2, "v": "second"})], T0) == ([], [])
    assert logic.next_notification() == T0 + WAIT
    out, _ = logic.add([("O1", {"order_id": "O1", "_seq": 1, "v": "first"})], T0 + timedelta(seconds=3))
    assert [e["v"] for e in out] == ["first", "second"] and logic.next_notification() is None


def test_a_missing_number_is_given_up_after_the_wait_and_comes_late_at_once():
    step = Resequence("in-order", {"key": "order_id", "wait": "10s"}, None)
    logic = step.logic()
    logic.add([("O1", {"_seq": 3}), ("O1", {"_seq": 2})], T0)  # 1 is missing
    assert logic.due(T0 + timedelta(seconds=9)) == ([], [])
    assert [e["_seq"] for e in logic.due(T0 + WAIT)[0]] == [2, 3]
    assert [e["_seq"] for e in logic.add([("O1", {"_seq": 1})], T0 + WAIT)[0]] == [1]  # late: on at once
    assert [e["_seq"] for e in logic.add([("O1", {"_seq": 4})], T0 + WAIT)[0]] == [4]


def test_a_number_given_twice_goes_on_twice_in_arrival_order_and_holds_back_nothing():
    """A redelivery between the two steps: both copies go on, and the next number is not held
    behind the second copy."""
    step = Resequence("in-order", {"key": "order_id", "wait": "10s"}, None)
    logic = step.logic()
    assert logic.add([("O1", {"_seq": 2, "v": "a"}), ("O1", {"_seq": 2, "v": "b"}), ("O1", {"_seq": 3, "v": "c"})],
                     T0) == ([], [])
    out, _ = logic.add([("O1", {"_seq": 1, "v": "first"})], T0)
    assert [e["v"] for e in out] == ["first", "a", "b", "c"] and logic.next_notification() is None
    assert [e["v"] for e in logic.add([("O1", {"_seq": 3, "v": "again"})], T0)[0]] == ["again"]  # late: at once


def test_an_event_without_a_whole_number_is_a_dead_letter_and_changes_nothing():
    step = Resequence("in-order", {"key": "order_id", "wait": "10s"}, None)
    logic = step.logic()
    for bad in (None, "1", 1.0, True):
        out, dead = logic.add([("O1", {"_seq": bad})], T0)
        assert out == [] and dead[0].step == "in-order" and "_seq" in dead[0].error
    assert [e["_seq"] for e in logic.add([("O1", {"_seq": 1})], T0)[0]] == [1]


def test_a_bad_wait_is_a_config_error_naming_the_option():
    with pytest.raises(ConfigError) as caught:
        Resequence("in-order", {"key": "order_id", "wait": "soon"}, None)
    assert caught.value.path == ("wait",)
