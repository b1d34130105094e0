"""A filter and the map it alone feeds, run as one step (engine/compiler/fused.py), against the
two steps run one after the other as the compiler wires them otherwise: the same events, the
same dead letters (step, reason, source event and position, in order), the same source rows
for what comes after, the same counters; and the compiler fuses only such pairs."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.binding import validate_text
from engine.compiler import compile_topology
from engine.compiler.fused import filter_then_map
from engine.compiler.steps import counted
from engine.lineage import trace
from engine.metrics import StepCounters
from engine.operators.boundary import guard, raw_values
from engine.operators.decode import Decode
from engine.operators.filter import Filter
from engine.operators.filter_map import shared_reads
from engine.operators.map import Map
from engine.records import RawBatch

PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
FILTERS = [
    "s != 'DRAFT' and w > 0",
    "w > 0",
    "s == 'x' or w > 1",
    "b",
    "b and s != 'y'",
    "length(s) > 1 and w >= 0",
    "w > 0 and w < 100000000000000000000",
    "not (w > 3) and s != 'z'",
    "(w > 0) == b",
    "s in ['a', 'bb'] and w != 2",
]
MAPS = [
    {"fields": {"s": "s", "w": "w", "heavy": "w > 1000"}},
    {"fields": {"x": "w + 1", "s": "upper(s)"}},
    {"fields": {"n": "length(s)", "w": "w"}, "keep": ["b"]},
    {"fields": {"w": "w * 2", "s": "s"}, "key": "s"},
    {"fields": {"both": "w > 0 and s == 'a'", "s2": "s + s", "w": "w"}},
    {"key": "s"},
]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([10**30, -(10**25), 2**63]),
                    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["", "a", "bb", "DRAFT", "x"]),
                    st.lists(st.integers(), max_size=2))
event = st.fixed_dictionaries({}, optional={"s": scalars, "w": scalars, "b": scalars})
not_objects = st.sampled_from([b"{broken", b"[1, 2]", b"7"])
values = st.lists(st.one_of(event.map(lambda e: json.dumps(e).encode()), not_objects), min_size=1, max_size=25)


def _decoded(encoded):
    decode = Decode("src")
    batch, _ = guard("src:decode", decode.process, raw_values)(RawBatch(encoded, "in.jsonl", first_offset=1))
    return batch


def _counts(counters: StepCounters):
    return counters.events_in, counters.events_out, counters.dead, sum(counters.batch_counts)


def _letters(deads):
    return [(d.step, d.error, repr(d.event), d.origin) for d in deads]


def _rows(batch):
    return [(repr(event), repr(origin)) for event, origin in (trace(batch, i) for i in range(len(batch)))]


@PROPERTY
@given(st.sampled_from(FILTERS), st.sampled_from(range(len(MAPS))), st.lists(values, min_size=1, max_size=4))
@example("s == 'x' or w > 1", 0, [[b'{"s": "a", "w": 5}', b'{"s": "x", "w": 0}']])  # w not read for the second
def test_the_fused_step_gives_what_the_filter_then_the_map_give(test, which, batches):
    keep, build = Filter("f", test, None), Map("m", MAPS[which], None)
    two = [StepCounters("f"), StepCounters("m")]
    one = [StepCounters("f"), StepCounters("m")]
    by_filter = counted(guard("f", keep.process), two[0])
    by_map = counted(guard("m", build.process), two[1])
    fused = filter_then_map(Filter("f", test, None), Map("m", MAPS[which], None), *one)
    for encoded in batches:
        kept, deads = by_filter(_decoded(encoded))
        oks, more = by_map(kept) if kept else ([], [])
        fused_oks, fused_deads = fused(_decoded(encoded))
        assert [repr(e) for e in fused_oks] == [repr(e) for e in oks]
        assert _letters(fused_deads) == _letters(deads + more)
        assert _rows(fused_oks) == _rows(oks)  # what a later step's dead letter would say
    assert [_counts(c) for c in one] == [_counts(c) for c in two]


def test_a_failing_event_is_the_dead_letter_of_its_own_step_with_its_line():
    keep, build = Filter("f", "w > 0", None), Map("m", {"fields": {"x": "w + s"}}, None)
    one = [StepCounters("f"), StepCounters("m")]
    lines = [{"w": 1, "s": 2}, {"w": "text"}, {"w": 2, "s": "a"}, {"w": -1}, {"w": 3, "s": 4}]
    oks, deads = filter_then_map(keep, build, *one)(_decoded([json.dumps(e).encode() for e in lines]))
    assert oks == [{"x": 3}, {"x": 7}]
    assert [(d.step, d.origin, d.event) for d in deads] == [("f", "in.jsonl:2", {"w": "text"}),
                                                            ("m", "in.jsonl:3", {"w": 2, "s": "a"})]
    assert [_counts(c) for c in one] == [(5, 3, 1, 1), (3, 2, 1, 1)]


def test_the_map_reads_the_filters_value_of_a_field_it_surely_read():
    test, literal = shared_reads("((_v1 := e['s']) is not None and _v1 != 'a') and (_v2 := e['w']) > 0",
                                 "{'s': e['s'], 'w': (_v1 := e['w']), 'b': e['b'], 'f': (lambda e: e['s'])(e)}")
    assert test == "((_f_v1 := e['s']) is not None and _f_v1 != 'a') and (_f_v2 := e['w']) > 0"
    assert literal == "{'s': _f_v1, 'w': (_v1 := _f_v2), 'b': e['b'], 'f': (lambda e: e['s'])(e)}"
    # under 'or' (or a later comparison, or assigned twice) a read may not have happened: left alone
    for test in ["(_v1 := e['s']) == 'a' or (_v2 := e['w']) > 0", "0 < 1 < (_v1 := e['s'])",
                 "(_v1 := e['s']) != 'a' and (_v1 := e['w']) > 0"]:
        assert "e['s']" in shared_reads(test, "{'s': e['s'], 'w': e['w']}")[1]


TOPOLOGY = """\
version: 1
name: fused
sources:
  orders: {{file: {{path: "{input}"}}}}
steps:
  - id: active
    filter: "w > 0"
  - id: shaped
    map: {{fields: {{x: "w + s", w: w}}}}
{more}sinks:
  out: {{from: {reads}, file: {{path: "{output}"}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""


@pytest.mark.parametrize("more, reads, fused", [
    ("", "shaped", True),
    ("", "[shaped, active]", False),  # the filter's events go on as well
    ("  - id: other\n    from: [active]\n    map: {fields: {w: w}}\n", "[shaped, other]", False),
])
def test_the_compiler_fuses_a_filter_read_by_its_map_alone(tmp_path, more, reads, fused):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in
                                               [{"w": 1, "s": 2}, {"w": "t"}, {"w": 2, "s": "a"}, {"w": -1}]))
    paths = {name: tmp_path / name for name in ("in.jsonl", "out.jsonl", "dead.jsonl")}
    result = validate_text("t.yaml", TOPOLOGY.format(input=paths["in.jsonl"], output=paths["out.jsonl"],
                                                     dead=paths["dead.jsonl"], more=more, reads=reads), env={})
    assert result.ok, result.diagnostics
    flow = compile_topology(result.topology)
    ids = {step.step_id for step in flow.substeps}
    assert ("fused.active" not in ids) is fused and "fused.shaped" in ids
    from bytewax.testing import run_main

    run_main(flow)
    dead = [json.loads(line) for line in paths["dead.jsonl"].read_text().splitlines()]
    assert sorted((d["step"], d["origin"]) for d in dead) == [("active", f"{paths['in.jsonl']}:2"),
                                                              ("shaped", f"{paths['in.jsonl']}:3")]
    assert json.loads(paths["out.jsonl"].read_text().splitlines()[0])["x"] == 3


def test_the_fused_loop_reads_fields_through_key_cells():
    """named_keys: each field read e['f'] outside a nested scope becomes e[<name>] (a cell the
    fused step points at the batch's own key objects), named apart from every other name."""
    from engine.operators.filter_map import named_keys

    test, literal, keys = named_keys("(_v1 := e['s']) != 'a' and e['w'] > _k0",
                                     "{'s': _v1, 'w': e['w'], 'f': (lambda e: e['s'])(e)}", ["_k1"])
    assert keys == {"s": "__k0", "w": "__k1"}
    assert test == "(_v1 := e[__k0]) != 'a' and e[__k1] > _k0"
    assert literal == "{'s': _v1, 'w': e[__k1], 'f': (lambda e: e['s'])(e)}"


def test_the_fused_step_reads_decoded_events_with_their_own_keys():
    keep, build = Filter("f", "s != 'DRAFT' and w > 0", None), Map("m", {"fields": {"s": "s", "x": "w + 1"}}, None)
    fused = filter_then_map(keep, build, StepCounters("f"), StepCounters("m"))
    lines = [json.dumps({"s": s, "w": w}).encode() for s, w in [("a", 1), ("DRAFT", 2), ("b", 0), ("c", 3)]]
    for _ in range(2):
        batch = _decoded(lines)
        oks, deads = fused(batch)
        assert oks == [{"s": "a", "x": 2}, {"s": "c", "x": 4}] and not deads
