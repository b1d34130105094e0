"""``with_previous``' ``remember_if``: only the events whose predicate (over the event, the
previous one attached) is exactly true are remembered, so a key's previous can be its newest
event where events come again or out of order; an event whose predicate fails is a dead letter
and changes nothing. Driven as the compiled flow drives it, across snapshots and crashes."""

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.operators.with_previous import WithPrevious
from tests.joins.restart_driver import Driver

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
NEWER = {"key": "k", "remember_if": "previous is null or pos > previous.pos"}

deliveries = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 6)), max_size=12)
plans = st.lists(st.one_of(st.lists(deliveries, min_size=1, max_size=3).map(lambda b: [x for y in b for x in y]),
                           st.just("snapshot"), st.just("crash")), max_size=8)


def driven(config: dict, plan: list) -> Driver:
    fed = [0]

    def batch_of(item):
        batch = [{"k": key, "pos": pos, "n": fed[0] + i} for i, (key, pos) in enumerate(item)]
        fed[0] += len(batch)
        return batch

    with Driver(WithPrevious("p", config, None), NOW) as driver:
        driver.play(plan, batch_of)
    return driver


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(plans)
def test_the_previous_is_the_newest_event_of_its_key_seen_before(plan):
    """Model: per key, the event of the highest position so far (the first of equal ones)."""
    driver = driven(NEWER, plan)
    assert driver.failures == [] and driver.dead == []
    newest: dict = {}
    expected = []
    for item in plan:
        if isinstance(item, str):
            continue
        for key, pos in item:
            n = len(expected)
            expected.append(newest.get(key))
            if newest.get(key) is None or pos > newest[key]["pos"]:
                newest[key] = {"k": key, "pos": pos, "n": n}
    out = sorted(driver.out, key=lambda e: e["n"])
    assert [e["previous"] for e in out] == expected


def test_an_older_event_after_a_newer_one_leaves_the_newer_one_remembered():
    driver = driven(NEWER, [[("a", 1), ("a", 3), ("a", 2), ("a", 3), ("a", 4)]])
    out = sorted(driver.out, key=lambda e: e["n"])
    assert [None if e["previous"] is None else e["previous"]["pos"] for e in out] == [None, 1, 3, 3, 3]


def test_a_predicate_that_fails_dead_letters_its_event_and_changes_nothing():
    config = {"key": "k", "remember_if": "int(tag) > 0"}
    with Driver(WithPrevious("p", config, None), NOW) as driver:
        driver.feed("from", [{"k": "a", "tag": "1", "n": 0}, {"k": "a", "tag": "x", "n": 1},
                             {"k": "a", "tag": "2", "n": 2}])
        driver.end()
    assert [e["n"] for e in driver.out] == [0, 2]
    assert driver.out[1]["previous"]["n"] == 0  # the failed event was not remembered
    assert len(driver.dead) == 1 and "remember_if" in str(driver.dead[0])


def test_a_predicate_that_is_not_exactly_true_does_not_remember():
    driver = driven({"key": "k", "remember_if": "pos"}, [[("a", 1), ("a", 2)]])  # 1 is no boolean true
    assert [e["previous"] for e in sorted(driver.out, key=lambda e: e["n"])] == [None, None]


def test_a_predicate_naming_an_unknown_function_is_a_config_error_at_the_option():
    with pytest.raises(ConfigError) as raised:
        WithPrevious("p", {"key": "k", "remember_if": "nope(pos)"}, None)
    assert raised.value.path == ("remember_if",)
