"""A map's generated code (its per-event ``build`` and its one comprehension over the batch)
against a plain reference: each field's expression in its plain translation (no written-out
calls, no reads shared between fields) and the key's text by ``key_text``. The map shares a
field read by several fields' expressions (``after.a``, ``upper(after.b)``), writes the key's
text and the argument checks out: the same events, and an event fails where the plain
reference fails."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expressions import compile_expression
from engine.operators.dead import one_by_one
from engine.operators.map import Map, key_text

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


class Text(str):
    pass


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.integers(10 ** 19, 10 ** 20),
                    st.text(max_size=3), st.text(max_size=2).map(Text), st.floats(allow_nan=False),
                    st.lists(st.integers(), max_size=2))
nested = st.one_of(scalars, st.fixed_dictionaries({}, optional={"p": scalars, "q": scalars}))
events = st.lists(st.one_of(st.fixed_dictionaries({}, optional={"a": nested, "b": nested, "s": scalars}), scalars),
                  max_size=8)
MAPS = [
    {"fields": {"x": "a.p", "y": "upper(a.q)", "z": "a.p ?? b"}, "key": "str(a.p)"},
    {"fields": {"x": "b", "y": "b.p", "n": "length(s)"}, "keep": ["b"], "key": "b"},
    {"fields": {"u": "upper(s)", "l": "lower(a.q) ?? s"}, "key": "concat(a.p, s)"},
    {"fields": {"p": "a.p", "q": "a.q", "bp": "b.p", "bq": "b.q"}, "key": "a.q"},
    {"fields": {"t": "str(a.p) + str(b.q)"}, "key": "s"},
]


def _plain(config):
    """``event -> output event`` from each expression's plain translation."""
    fields = {name: compile_expression(text, None, inline=False) for name, text in config["fields"].items()}
    key = compile_expression(config["key"], None, inline=False) if "key" in config else None

    def build(event):
        out = {name: event.get(name) for name in config.get("keep", [])}  # a kept field missing: null
        out.update({name: expression(event) for name, expression in fields.items()})
        if key is not None:
            out["_key"] = key_text(key(event))
        return out

    return build


def _shape(events_out):
    return [(repr(e), [type(v) for v in e.values()]) for e in events_out]


@PROPERTY
@given(st.sampled_from(range(len(MAPS))), events)
def test_a_map_builds_what_its_plain_expressions_build(config, batch):
    step = Map("m", MAPS[config], None)
    assert step._build_all is not None and step.literal is not None
    oks, deads = step.process(batch)
    reference_oks, reference_deads = one_by_one("m", batch, _plain(MAPS[config]))
    assert _shape(oks) == _shape(reference_oks)
    assert [id(d.event) for d in deads] == [id(d.event) for d in reference_deads]
    each_oks, each_deads = one_by_one("m", batch, step._build)  # the per-event build, as the boundary redoes it
    assert _shape(each_oks) == _shape(oks)
    assert [(id(d.event), d.error) for d in each_deads] == [(id(d.event), d.error) for d in deads]


def test_a_parent_read_by_several_fields_is_read_once():
    literal = Map("m", MAPS[3], None).literal
    assert literal is not None
    assert literal(True).count("'a'") == 1 and literal(True).count("'b'") == 1  # the hot path's form


def test_a_step_absent_from_an_object_is_null_on_the_hot_path_not_a_fall_back():
    """``a.p`` where ``a`` holds no ``p`` is null in either form; the strict form reads it so
    too (``.get``), so a batch with such an event stays on the hot path (a KeyError there sent
    the batch and the next 8 to the lenient form: the domain map's ``ops.transport_order``)."""
    step = Map("m", MAPS[0], None)
    oks, deads = step.process([{"a": {"q": "x"}, "b": 1}, {"a": {"p": 2}, "b": 1}])
    assert not deads and [e["x"] for e in oks] == [None, 2] and [e["z"] for e in oks] == [1, 2]
    assert step._build_all is not None and step._build_all._pause == 0  # the fast form did the batch
    assert ".get('p')" in step.literal(True)
