"""``sequence`` and ``resequence`` driven as the compiled flow drives a keyed step (its boundary,
timers on a set clock, snapshots pickled and restored after a crash and a downtime, the input since
the snapshot replayed: tests/joins/restart_driver.py): a run with crashes gives what the run without
them gives, numbers and order alike, nothing lost or doubled."""

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.sequence import Resequence, Sequence
from tests.joins.restart_driver import Driver

NOW = datetime(2026, 12, 5, 14, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
events = st.lists(st.sampled_from(["O1", "O2", "O3"]), min_size=1, max_size=4)
plans = st.lists(st.one_of(events, events, st.just("snapshot"), st.just("crash")), max_size=25)


def _run(step, plan, batch_of):
    with Driver(step, NOW) as driver:
        driver.play(plan, batch_of)
    assert driver.failures == [] and driver.dead == []
    return driver.out


def _keys(plan):
    """Each batch's events, a running count naming each one (as a replay gives it again)."""
    count = iter(range(10**6))
    return [[{"order_id": key, "n": next(count)} for key in item] if isinstance(item, list) else item
            for item in plan]


@PROPERTY
@given(plans)
def test_numbers_after_crashes_are_the_numbers_without_them(plan):
    made = _keys(plan)
    calm = [item for item in made if item not in ("snapshot", "crash")]
    with_crashes = _run(Sequence("numbered", {"key": "order_id"}, None), made, list)
    without = _run(Sequence("numbered", {"key": "order_id"}, None), calm, list)
    assert sorted(with_crashes, key=lambda e: e["n"]) == sorted(without, key=lambda e: e["n"])
    for key in ("O1", "O2", "O3"):
        assert [e["_seq"] for e in without if e["order_id"] == key] == \
            list(range(1, 1 + sum(e["order_id"] == key for e in without)))


@st.composite
def reordered(draw):
    """Each order's numbered events in a shuffled order (as joins reorder them), cut into batches,
    with snapshots and crashes between them: events held across a batch, and across a restart."""
    keys = draw(st.lists(st.sampled_from(["O1", "O2", "O3"]), min_size=1, max_size=16))
    numbers: dict = {}
    made = []
    for n, key in enumerate(keys):
        numbers[key] = numbers.get(key, 0) + 1
        made.append({"order_id": key, "_seq": numbers[key], "n": n})
    made = draw(st.permutations(made))
    plan, start = [], 0
    for cut in sorted(draw(st.lists(st.integers(1, len(made)), max_size=6, unique=True))) + [len(made)]:
        if cut > start:
            plan.append(made[start:cut])
            start = cut
        plan += draw(st.lists(st.sampled_from(["snapshot", "crash"]), max_size=2))
    return plan, numbers


@PROPERTY
@given(reordered())
def test_resequenced_output_after_crashes_is_the_output_without_them(case):
    plan, numbers = case
    calm = [item for item in plan if item not in ("snapshot", "crash")]
    step = lambda: Resequence("in-order", {"key": "order_id", "wait": "1h"}, None)  # noqa: E731
    with_crashes, without = _run(step(), plan, list), _run(step(), calm, list)
    assert with_crashes == without
    for key in numbers:
        assert [e["_seq"] for e in without if e["order_id"] == key] == list(range(1, numbers[key] + 1))
