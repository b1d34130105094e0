"""Floats keep their meaning: arithmetic that overflows to inf or nan is an error of that event
(a dead letter), never a value a JSON sink would write as null; an aggregate's float sum that
would overflow dead-letters the event that would make it so."""

import math
import operator

from hypothesis import given, settings, strategies as st

from engine.expressions import compile_expression

finite = st.floats(allow_nan=False, allow_infinity=False)
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


@given(finite, finite, st.sampled_from(sorted(OPS)), st.sampled_from(["float", "any"]))
def test_float_arithmetic_is_exact_or_refused_when_it_leaves_the_float_range(a, b, op, declared):
    expression = compile_expression(f"a {op} b", {"a": declared, "b": declared})
    expected = OPS[op](a, b)
    try:
        got = expression({"a": a, "b": b})
    except ValueError as exc:
        assert not math.isfinite(expected) and "float range" in str(exc)
        return
    assert math.isfinite(expected) and got == expected


@given(st.integers(), st.integers(), st.sampled_from(sorted(OPS)))
def test_integer_arithmetic_is_untouched(a, b, op):
    assert compile_expression(f"a {op} b", {"a": "any", "b": "any"})({"a": a, "b": b}) == OPS[op](a, b)


AGGREGATE = """\
version: 1
name: sums
sources:
  s: {{file: {{path: "{dir}/in.jsonl"}}}}
steps:
  - id: typed
    cast: {{fields: {{w: float}}}}
  - id: total
    aggregate: {{key: k, compute: {{s: sum(w), a: avg(w), n: count()}}, emit: final}}
sinks:
  out: {{from: total, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


@settings(deadline=None)  # a whole flow per example: its time is the machine's load
@given(st.lists(st.sampled_from([1e308, -1e308, 1.7e308, 2.5, -3.0, 1e300]), min_size=1, max_size=12))
def test_a_float_sum_never_leaves_the_float_range_and_no_event_vanishes(flow_factory, weights):
    flow = flow_factory("sums")
    flow.write("in.jsonl", [{"k": "a", "w": str(w)} for w in weights])
    ran = flow.cli(AGGREGATE)
    assert ran.exit == 0
    dead = ran.dead
    [out] = ran.rows("out")
    kept, running = [], None  # the model: fold in arrival order, refusing what would overflow
    for w in weights:
        total = w if running is None else running + w
        if math.isfinite(total):
            kept.append(w)
            running = total
    assert out["s"] == running and out["n"] + len(dead) == len(weights)
    assert all("beyond the float range" in x["error"] and x["step"] == "total" for x in dead)


values = st.one_of(st.none(), st.text(max_size=4), st.integers(), st.floats(), st.sampled_from([1e308, -1e308]))


CHAINS = {"a + ':' + b": lambda a, b: a + ":" + b, "a + b + ':'": lambda a, b: a + b + ":",
          "':' + a - b": lambda a, b: ":" + a - b, "a - b + ':'": lambda a, b: a - b + ":"}


@given(values, values, st.sampled_from(sorted(CHAINS)))
def test_a_chain_with_a_text_gives_that_text_or_an_error_never_a_float(a, b, source):
    """No float range check where a text is an operand: from that step on the value is a text
    or the event's error (``inf + ':'`` is one), so none is needed."""
    expression = compile_expression(source, {"a": "any", "b": "any"})
    try:
        got = expression({"a": a, "b": b})
    except (TypeError, ValueError):
        return
    python = CHAINS[source](a, b) if a is not None and b is not None else None
    assert got == python and (got is None or type(got) is str)
