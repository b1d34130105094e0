"""``route`` and ``branch`` against a plain model of docs/topology.md: a route's predicates are tried in
order and the event goes to the first that is true (one after it is never evaluated, so it cannot fail
the event); a branch evaluates them all; no true predicate: ``otherwise``. Each predicate alone is the
expression's own ``holds`` (the expression language is tested elsewhere)."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.route import Branch, Route

WHEN = {"special": "kind == 'X'", "big": "int(code) > 10", "flagged": "flag", "even": "n % 2 == 0"}
values = st.one_of(st.none(), st.booleans(), st.integers(-3, 30), st.just(10 ** 25), st.sampled_from(
    ["X", "Y", "12", "abc", "", "ü", float("nan"), -0.0, float("inf"), Decimal("NaN"), Decimal("12")]),
    st.lists(st.integers(0, 2), max_size=2), st.dictionaries(st.sampled_from(["a"]), st.integers(0, 2)))
event = st.fixed_dictionaries({}, optional={"kind": values, "code": values, "flag": values, "n": values})


def model(route, batch, first_only):
    routed = {name: [] for name in route.outputs}
    dead = []
    for e in batch:
        hits = []
        try:
            for name, predicate in route.predicates.items():
                if predicate.holds(e):
                    hits.append(name)
                    if first_only:
                        break
        except Exception:  # noqa: BLE001 - a predicate evaluated for this event failed
            dead.append(e)
            continue
        for name in hits or ([route.otherwise] if route.otherwise else []):
            routed[name].append(e)
    return routed, dead


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(event, max_size=12), st.sampled_from([None, "rest"]), st.permutations(list(WHEN)))
def test_route_and_branch_send_events_as_the_model_says(batch, otherwise, order):
    config = {"when": {name: WHEN[name] for name in order}, **({"otherwise": otherwise} if otherwise else {})}
    for kind, first_only in ((Route, True), (Branch, False)):
        step = kind("r", config, None)
        routed, deads = step.process(batch)
        expected, dead = model(step, batch, first_only)
        assert routed == expected
        assert [d.event for d in deads] == dead


def test_a_route_does_not_evaluate_the_predicates_after_the_first_that_holds():
    """An event whose first predicate held used to be dead-lettered when a later one failed on it."""
    route = Route("r", {"when": {"special": "kind == 'X'", "big": "int(code) > 10"}, "otherwise": "rest"}, None)
    batch = [{"kind": "X", "code": "n/a"}, {"kind": "Y", "code": "n/a"}, {"kind": "Y", "code": "11"}]
    routed, deads = route.process(batch)
    assert routed == {"special": [{"kind": "X", "code": "n/a"}], "big": [{"kind": "Y", "code": "11"}], "rest": []}
    assert [d.event for d in deads] == [{"kind": "Y", "code": "n/a"}]
