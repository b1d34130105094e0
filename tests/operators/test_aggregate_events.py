"""An aggregate without a window groups a batch into ``Events`` (a key's events, its text key
once) instead of ``(key value, event)`` pairs: the same groups, the same results and dead
letters, and the keyed boundary treats both alike."""

import copy
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.aggregate import Aggregate
from engine.operators.aggregations import FoldSource
from engine.operators.keyed import Events, events_of, singles
from tests.operators.test_keyed_boundary import Tally, TallyLogic, ev, run_flow

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=150, deadline=None)



class _Text(str):
    """A str subclass (no step makes one): its group is its text's."""


keys = st.one_of(st.sampled_from(["a", "b", "", "é"]), st.none(), st.integers(-2, 2), st.just(True),
                 st.builds(_Text, st.sampled_from(["a", "b"])), st.sampled_from([1.0, 0.0, Decimal(1)]),
                 st.lists(st.integers(), max_size=1))
values = st.one_of(st.none(), st.integers(-10, 10), st.decimals(allow_nan=False, places=2, max_value=10 ** 6,
                                                                min_value=-10 ** 6),
                   st.text(max_size=2), st.floats(allow_nan=False, width=16))
event = st.one_of(st.fixed_dictionaries({"k": keys, "x": values}),
                  st.fixed_dictionaries({"x": values}),  # no key field
                  st.fixed_dictionaries({"k": st.sampled_from(["a", "b"]), "x": values}))
batches = st.lists(st.lists(event, max_size=8), min_size=1, max_size=5)
CONFIGS = [{"key": "k", "compute": {"n": "count()", "s": "sum(x)", "m": "max(x)"}},
           {"key": "k", "compute": {"n": "count()", "s": "sum(x)"}, "emit": "final"},
           {"key": "upper(k)", "compute": {"n": "count()", "avg": "avg(x)"}}]


def shown(groups):
    return [(key, [id(e) for e in events_of(items)], [repr(v) for v, _ in items] if type(items) is not Events
             else [repr(items.key)] * len(items)) for key, items in groups]


@PROPERTY
@given(st.sampled_from(range(len(CONFIGS))), batches)
def test_events_groups_are_the_pairs_groups(config, batches):
    step = Aggregate("agg", CONFIGS[config], None)
    for batch in batches:
        groups, deads = step.group_events(batch)
        pairs, reference_deads = step.group(batch)
        assert shown(groups) == shown(pairs)  # every key value is its group's text key
        assert [(id(d.event), d.error) for d in deads] == [(id(d.event), d.error) for d in reference_deads]


def run(step, batches, grouping):
    logics, out, dead = {}, [], []
    for batch in batches:
        groups, deads = grouping(step, batch)
        dead += deads
        for key, items in groups:
            emitted, failed = logics.setdefault(key, step.logic()).add(items, T0)
            out += emitted
            dead += failed
    flushed = [logic.flush() for logic in logics.values()]
    out += [e for emitted, _ in flushed for e in emitted]
    dead += [d for _, failed in flushed for d in failed]
    return out, [(id(d.event), d.error) for d in dead], {k: logic.state() for k, logic in logics.items()}


@PROPERTY
@given(st.sampled_from(range(len(CONFIGS))), batches)
def test_running_takes_events_as_it_takes_pairs(config, batches):
    events_run = run(Aggregate("agg", CONFIGS[config], None), batches, Aggregate.group_events)
    pairs_run = run(Aggregate("agg", CONFIGS[config], None), batches, Aggregate.group)
    assert repr(events_run) == repr(pairs_run)


def test_a_str_subclass_key_after_its_text_gives_what_pairs_give():
    batch = [{"k": "a", "x": 1}, {"k": _Text("a"), "x": 2}, {"k": "b", "x": 3}]
    for config in CONFIGS[:2]:
        events_run = run(Aggregate("agg", config, None), [batch], Aggregate.group_events)
        pairs_run = run(Aggregate("agg", config, None), [batch], Aggregate.group)
        assert repr(events_run) == repr(pairs_run)
        assert [type(v) for e in events_run[0] for v in e.values()] == \
            [type(v) for e in pairs_run[0] for v in e.values()]
        key_types = [type(s.key) for s in events_run[2].values()]
        assert key_types == [type(s.key) for s in pairs_run[2].values()] == [str, str]


def test_a_batch_with_a_key_that_is_not_text_is_grouped_into_pairs():
    step = Aggregate("agg", {"key": "k", "compute": {"n": "count()"}}, None)
    groups, _ = step.group_events([{"k": "a"}, {"k": 1}])
    assert [type(items) for _, items in groups] == [list, list]
    step = Aggregate("agg", {"key": "k", "compute": {"n": "count()"}}, None)  # the first try rests for a while
    groups, _ = step.group_events([{"k": "a", "x": Decimal(1)}, {"k": "a"}])
    assert [(key, type(items), items.key) for key, items in groups] == [("a", Events, "a")]
    step.group_events([{"k": "b"}, {"k": "a"}, {"k": "b"}])
    assert step._group_events._pause == 0  # the generated grouper took both batches


def test_singles_keep_the_key():
    group = Events([{"i": 1}, {"i": 2}])
    group.key = "a"
    assert [(e, type(one), one.key, list(one)) for e, one in singles(group)] == [
        ({"i": 1}, Events, "a", [{"i": 1}]), ({"i": 2}, Events, "a", [{"i": 2}])]
    assert singles([("a", {"i": 1})]) == [({"i": 1}, [("a", {"i": 1})])]


class TallyEvents(Tally):
    """``Tally`` grouping into ``Events``."""

    def group_events(self, batch):
        groups, deads = self.group(batch)
        out = []
        for key, pairs in groups:
            events = Events(e for _, e in pairs)
            events.key = key
            out.append((key, events))
        return out, deads

    def logic(self, state=None):
        return TallyEventsLogic(self, state if state is not None else {"seen": [], "due_at": None})


class TallyEventsLogic(TallyLogic):
    def add(self, pairs, now):
        assert type(pairs) is Events and pairs.key == "a"
        return super().add([(pairs.key, e) for e in pairs], now)


def test_the_keyed_boundary_treats_events_as_pairs():
    batches = [[ev(1), ev(2)], [ev(3), ev(0, boom=True), ev(4)], [ev(5), ev(0, boom=True), ev(6)]]
    with_pairs = run_flow(Tally(), batches)
    batches = [[ev(1), ev(2)], [ev(3), ev(0, boom=True), ev(4)], [ev(5), ev(0, boom=True), ev(6)]]
    with_events = run_flow(TallyEvents(), batches)
    assert [(d.event, d.error) for d in with_events[1]] == [(d.event, d.error) for d in with_pairs[1]]
    assert with_events[0] == with_pairs[0] == [{"seen": [1, 2, 3, 5, 6]}]


# -- a running Decimal sum of a typed field: sum() in C, as the loop adds --------------------------
decimals = st.one_of(st.decimals(places=2, max_value=10 ** 6, min_value=-10 ** 6), st.integers(-5, 5), st.none(),
                     st.just("missing"), st.floats(-10, 10), st.just("x"), st.just(True),
                     st.sampled_from([Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("1e999999"),
                                      Decimal("-1e999999"), Decimal("0.1"), Decimal("-0")]))
TYPED = {"k": "str", "x": "decimal(10,2)", "y": "decimal(12,3)"}


def exact_fold(step, accumulator, events):
    reference = copy.copy(step)
    reference._fold = step._fold_exact
    return Aggregate.fold(reference, accumulator, events)


clean = st.one_of(st.decimals(allow_nan=False, allow_infinity=False), st.integers(), st.just(True),
                  st.sampled_from([Decimal("Infinity"), Decimal("-Infinity"), Decimal("1e999999")]))


@PROPERTY
@given(st.sampled_from([{"n": "count()", "s": "sum(x)"}, {"s": "sum(x)", "t": "sum(y)", "n": "count()"},
                        {"s": "sum(x)", "m": "max(x)"}]),
       st.one_of(st.lists(st.lists(st.tuples(decimals, decimals), max_size=8), min_size=1, max_size=8),
                 st.lists(st.lists(st.tuples(clean, clean), max_size=8), min_size=1, max_size=8)))
def test_decimal_sums_fold_as_the_exact_fold(compute, batches):
    agg = Aggregate("agg", {"key": "k", "compute": compute}, TYPED)
    accumulator = want = agg.fresh()
    for pairs in batches:
        batch = [{"k": "a", **{name: v for name, v in (("x", x), ("y", y)) if v != "missing"}} for x, y in pairs]
        accumulator, got_deads = agg.fold(accumulator, batch)
        want, want_deads = exact_fold(agg, want, batch)
        assert repr(accumulator) == repr(want)
        assert [(id(d.event), d.error) for d in got_deads] == [(id(d.event), d.error) for d in want_deads]


def test_only_sums_of_typed_plain_fields_are_added_by_sum():
    def strict(compute, fields=TYPED):
        return FoldSource(Aggregate("agg", {"key": "k", "compute": compute}, fields).slots).quick(None, strict=True)

    assert "a1 = _sum(_map(_item('x'), events), a1)" in strict({"n": "count()", "s": "sum(x)"})
    assert "_sum" not in strict({"s": "sum(x)", "m": "max(x)"}) + strict({"s": "sum(x)"}, None) \
        + strict({"s": "sum(x + 1)"}) + strict({"s": "avg(x)"})
