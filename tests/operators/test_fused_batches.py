"""The one-loop batch forms against their simple references, whatever the events: a map whose
output is one dict literal (one comprehension over the batch) against its per-event ``build``,
and an aggregate's fused grouping against ``group_by_key`` (the same groups in the same order,
the same dead letters with the same reasons)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.aggregate import Aggregate
from engine.operators.dead import one_by_one
from engine.operators.keyed import group_by_key
from engine.operators.map import Map

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3), st.floats(allow_nan=False),
                    st.lists(st.integers(), max_size=2))
events = st.lists(st.one_of(st.fixed_dictionaries({}, optional={"a": scalars, "b": scalars, "s": scalars}),
                            scalars), max_size=10)
MAPS = [
    {"fields": {"x": "a", "y": "upper(s)"}},
    {"fields": {"x": "a + 1", "b": "b"}, "key": "str(a)"},
    {"fields": {"n": "length(s)"}, "keep": ["a"]},
    {"fields": {"a": "b", "b": "a"}, "keep": ["a", "b"]},
    {"key": "s"},
]


def _shape(events_out):
    return [repr(e) for e in events_out]


@PROPERTY
@given(st.sampled_from(range(len(MAPS))), events)
def test_a_map_over_the_batch_builds_what_each_event_builds(config, batch):
    step = Map("m", MAPS[config], None)
    assert step._build_all is not None
    oks, deads = step.process(batch)
    reference_oks, reference_deads = one_by_one("m", batch, step._build)
    assert _shape(oks) == _shape(reference_oks)
    assert [(id(d.event), d.error) for d in deads] == [(id(d.event), d.error) for d in reference_deads]


def test_renames_drops_and_nested_names_keep_the_per_event_build():
    assert Map("m", {"fields": {"a.b": "1"}}, None)._build_all is None
    assert Map("m", {"fields": {"x": "1"}, "keep": "all", "drop": ["y"]}, None)._build_all is None


KEYS = ["a", "s", "str(a) + s", None]


@PROPERTY
@given(st.sampled_from(KEYS), events)
def test_the_fused_grouping_is_group_by_key(key, batch):
    config = {"compute": {"n": "count()"}, **({"key": key} if key else {})}
    step = Aggregate("agg", config, None)
    pairs, deads = step.group(batch)
    reference_pairs, reference_deads = group_by_key(batch, "agg", step._key_of, "the aggregation key is null")
    assert [(k, [(repr(v), id(e)) for v, e in items]) for k, items in pairs] == \
        [(k, [(repr(v), id(e)) for v, e in items]) for k, items in reference_pairs]
    assert [(id(d.event), d.error) for d in deads] == [(id(d.event), d.error) for d in reference_deads]


@PROPERTY
@given(st.sampled_from(KEYS[:3]), st.lists(events, min_size=1, max_size=12))
def test_one_aggregate_groups_batch_after_batch_as_group_by_key(key, batches):
    """One step over many batches: the strict grouping (the key's fields read as e[name]) while
    every event has them, the lenient one after a batch without, then the strict one again."""
    step = Aggregate("agg", {"compute": {"n": "count()"}, "key": key}, None)
    for batch in batches:
        pairs, deads = step.group(batch)
        reference_pairs, reference_deads = group_by_key(batch, "agg", step._key_of, "the aggregation key is null")
        assert [(k, [(repr(v), id(e)) for v, e in items]) for k, items in pairs] == \
            [(k, [(repr(v), id(e)) for v, e in items]) for k, items in reference_pairs]
        assert [(id(d.event), d.error) for d in deads] == [(id(d.event), d.error) for d in reference_deads]
