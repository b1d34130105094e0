"""cast's inline fast paths (engine/operators/cast_inline.py) against the converters of
engine/values.py, the simple reference: for any value, the fused batch loop gives exactly what
converting each event on its own gives (the same value, type and decimal exponent, the same
dead letters with the same reasons)."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.operators.cast import Cast
from engine.operators.cast_inline import inline

TYPES = ["int", "timestamp", "decimal(10,2)", "decimal(3,2)", "decimal(38,9)", "decimal(5,0)", "decimal(4,1)",
         "decimal(6,3)", "decimal(2,2)"]

_digits = st.text(alphabet="0123456789", min_size=1, max_size=45)
_numeric_text = st.builds(
    lambda sign, whole, point, frac, pad: f"{pad}{sign}{whole}{point}{frac}{pad}",
    st.sampled_from(["", "-", "+"]), _digits, st.sampled_from(["", "."]),
    st.text(alphabet="0123456789", max_size=12), st.sampled_from(["", " ", "\t"]))
_odd_text = st.sampled_from(["NaN", "nan", "-NaN", "sNaN", "Infinity", "-inf", "1_000", "\u0661\u0662", "²",
                             "1e5", "1E-3", "9.995", "99999999.995", "0.005", "-0.005", "", " ", "1.", ".5",
                             "0x10", "12a", "infinity", "-infinity", " 1.5", "1.5 ", "\t2", "1_0.5", "1.5_1",
                             "1e-999999999999999999999", "1e999999999999999999999", "1E-1000000000000000000",
                             "0E-1000000000000000000", "-0E+999999999999999999", "1e-999999999999999990", "-0.00",
                             "+.5", "5.", "00012.30", "1e1_0", "\u0661.5", "1.\u0665", "-sNaN", "sNaN12", "NaN3"])
_times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                      timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=2)),
                                                 timezone(timedelta(hours=-5, minutes=-30))]))
_time_text = st.builds(lambda t, z, sep: t.isoformat(sep=sep).replace("+00:00", z), _times,
                       st.sampled_from(["+00:00", "Z", "z"]), st.sampled_from(["T", " "]))


class _Text(str):
    """A str subclass: the int and decimal converters refuse it, the timestamp one reads its text."""


_values = st.one_of(_numeric_text, _odd_text, _time_text, st.text(max_size=30), st.integers(), st.floats(),
                    st.booleans(), st.decimals(), _times, st.none(), st.lists(st.integers(), max_size=2),
                    st.builds(_Text, st.one_of(_numeric_text, _time_text)))


def _shape(value):
    """Compared by value, type and text (Decimal('1.0') == Decimal('1.00'), but not for a sink)."""
    return type(value), str(value), value.tzinfo if isinstance(value, datetime) else None


def _by_event(step: Cast, events: list):
    oks, deads = step._by_event(events)
    return [{k: _shape(v) for k, v in e.items()} for e in oks], [(d.event, d.error) for d in deads]


def _fused(step: Cast, events: list):
    oks, deads = step.process(events)
    return [{k: _shape(v) for k, v in e.items()} for e in oks], [(d.event, d.error) for d in deads]


@settings(max_examples=400, deadline=None)
@given(type_name=st.sampled_from(TYPES), values=st.lists(_values, min_size=1, max_size=8))
@example(type_name="decimal(3,2)", values=["9.995", "9.994", "NaN", "1.005", "1_0", "\u0661", "-0.005"])
@example(type_name="int", values=["12", "-12", " 7 ", "1_0", "\u0661", "9" * 5000])
@example(type_name="timestamp", values=["2026-11-02T06:00:00Z", "2026-11-02T06:00:00+02:00",
                                        "2026-11-02 06:00:00", "2026-11-02T06:00:00z", "infinity"])
def test_the_fused_loop_converts_as_the_converter(type_name, values):
    step = Cast("c", {"fields": {"v": type_name}}, None)
    events = [{"i": i, "v": v} for i, v in enumerate(values)]
    assert _fused(step, events) == _by_event(step, events)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.tuples(_numeric_text, _time_text, _digits), min_size=1, max_size=6))
def test_nested_fields_convert_as_the_converters(values):
    step = Cast("c", {"fields": {"after.w": "decimal(10,3)", "after.t": "timestamp", "after.n": "int"}}, None)
    events = [{"after": {"w": w, "t": t, "n": n}} for w, t, n in values]
    before = repr(events)
    oks, deads = step.process(events)
    assert repr(events) == before  # the input is never modified
    reference = step._by_event(events)
    assert [repr(e) for e in oks] == [repr(e) for e in reference[0]]
    assert [d.error for d in deads] == [d.error for d in reference[1]]


def test_types_without_an_inline_form_call_their_converter():
    assert inline("float", "_c0") is None and inline("timestamp(ms)", "_c0") is None
    assert Cast("c", {"fields": {"v": "float"}}, None).process([{"v": "1.5"}])[0] == [{"v": 1.5}]


def test_a_decimal_keeps_the_exponent_of_its_scale():
    oks, _ = Cast("c", {"fields": {"v": "decimal(10,2)"}}, None).process([{"v": "3"}, {"v": "1.005"}])
    assert [str(e["v"]) for e in oks] == ["3.00", "1.01"] and all(type(e["v"]) is Decimal for e in oks)


_fields = st.dictionaries(st.sampled_from(["n", "w", "t", "s"]), _values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.lists(_fields, max_size=6), min_size=1, max_size=12), owned=st.booleans())
@example(batches=[[{"n": "1", "w": "1.5", "t": "2026-01-01T00:00:00Z", "s": "a"},
                   {"n": "2", "w": "2.5", "t": "2026-01-01T00:00:00Z", "s": None}]] * 10, owned=True)
@example(batches=[[{"n": "1", "w": "1.5", "t": "2026-01-01T00:00:00Z", "s": 1}]] * 3, owned=False)
@example(batches=[[{"n": "1", "w": "1.5", "t": "2026-01-01T00:00:00Z", "s": "a"},  # in place, a failure mid-batch
                   {"n": "1_0", "w": "2.5", "t": "2026-01-01T00:00:00Z", "s": "b"},
                   {"n": "3", "w": "NaN", "t": "2026-01-01T00:00:00Z", "s": "c"},
                   {"n": "4", "w": "4.5", "t": "2026-01-01T00:00:00Z", "s": "d"}]] * 2, owned=True)
def test_strict_and_lenient_loops_owned_or_not_convert_as_the_converters(batches, owned):
    """Batches with every field (the strict loop), with nulls or missing fields (the lenient loop
    takes over where the strict one stopped, then alone for a few batches), owned or copied."""
    import copy

    step = Cast("c", {"fields": {"n": "int", "w": "decimal(10,2)", "t": "timestamp", "s": "str"}}, None)
    for events in batches:
        before = copy.deepcopy(events)
        oks, deads = (step.process_owned if owned else step.process)(events)
        reference = step._by_event(before)
        assert [repr(e) for e in oks] == [repr(e) for e in reference[0]]
        assert [(repr(d.event), d.error) for d in deads] == [(repr(d.event), d.error) for d in reference[1]]
        if not owned:
            assert repr(events) == repr(before)  # the input is never modified
        for dead in deads:  # an owned event that fails is dead-lettered as it arrived
            assert any(repr(dead.event) == repr(b) for b in before)


_inner = st.dictionaries(st.sampled_from(["t", "x"]), _values, max_size=2)
_parents = st.one_of(st.dictionaries(st.sampled_from(["n", "w", "b"]), st.one_of(_values, _inner), max_size=3),
                     st.fixed_dictionaries({"n": st.sampled_from(["1", "2"]), "w": st.just("2.5"),
                                            "b": st.fixed_dictionaries({"t": st.just("2026-01-01T00:00:00Z")})}),
                     _values)
_nested_events = st.dictionaries(st.sampled_from(["a", "s"]), st.one_of(_parents, _values), max_size=2)
NESTED = [{"a.n": "int", "a.w": "decimal(10,2)", "a.b.t": "timestamp", "s": "str"},
          {"a.n": "int", "a.b": "str", "a.b.t": "timestamp"}]  # a.b is a value and a parent: lenient loop only


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.lists(_nested_events, max_size=6), min_size=1, max_size=12),
       held=st.sampled_from(["copy", "owned", "whole"]), config=st.sampled_from(NESTED))
@example(batches=[[{"a": {"n": "1", "w": "1.5", "b": {"t": "2026-01-01T00:00:00Z"}}, "s": "x"},
                   {"a": {"n": "1_0", "w": "1.5", "b": {"t": "2026-01-01T00:00:00Z"}}, "s": "y"},
                   {"a": {"n": "2", "w": "1.5", "b": {"t": "2026-01-01T00:00:00Z"}}, "s": "z"}]] * 2,
         held="owned", config=NESTED[0])
@example(batches=[[{"a": {"n": "1", "w": "1.5", "b": {"t": "2026-01-01T00:00:00Z"}}, "s": "x"},
                   {"a": {"n": "2", "w": "x", "b": {"t": "2026-01-01T00:00:00Z"}}, "s": "y"},
                   {"a": {"n": "3", "w": "1.5", "b": {"t": "2026-01-01T00:00:00Z"}}, "s": "z"}]] * 2,
         held="whole", config=NESTED[0])
def test_nested_strict_and_lenient_loops_convert_as_the_converters(batches, held, config):
    """Nested fields: the strict loop (every parent an object, every field there and not null)
    converts into a copy of each parent, never into the parent the event arrived with, unless
    the events are owned whole (``process_owned_whole``); an event it cannot convert is left as
    it came, for the lenient loop."""
    import copy

    step = Cast("c", {"fields": config}, None)
    assert bool(step._strict) == (config is NESTED[0])
    process = {"copy": step.process, "owned": step.process_owned, "whole": step.process_owned_whole}[held]
    for events in batches:
        before = copy.deepcopy(events)
        parents = [e.get("a") for e in events]
        inner = [p.get("b") if isinstance(p, dict) else None for p in parents]
        oks, deads = process(events)
        reference = step._by_event(before)
        assert [repr(e) for e in oks] == [repr(e) for e in reference[0]]
        assert [(repr(d.event), d.error) for d in deads] == [(repr(d.event), d.error) for d in reference[1]]
        if held != "whole":
            assert [repr(p) for p in parents] == [repr(e.get("a")) for e in before]  # the parents are not changed
            assert [repr(b) for b in inner] == [repr(e["a"].get("b")) if isinstance(e.get("a"), dict) else "None"
                                                for e in before]
        if held == "copy":
            assert repr(events) == repr(before)
        for dead in deads:
            assert any(repr(dead.event) == repr(b) for b in before)


def test_owned_whole_converts_nested_fields_where_they_are_but_copies_shared_ones():
    """Events owned whole: ``a``'s fields are converted in ``a`` itself (no copy: what the
    mode is for), while an envelope's ``schema`` and a message's ``_meta``, objects a source
    shares with other events and its raw batch (``records.SHARED``), are copied first."""
    step = Cast("c", {"fields": {"a.n": "int", "a.b.m": "int", "schema.v": "int", "schema.f.w": "int",
                                 "_meta.p": "int"}}, None)
    schema, meta = {"v": "1", "f": {"w": "3"}}, {"p": "2"}
    events = [{"a": {"n": str(i), "b": {"m": "4"}}, "schema": schema, "_meta": meta} for i in range(3)]
    parents = [(e["a"], e["a"]["b"]) for e in events]
    oks, deads = step.process_owned_whole(events)
    assert deads == [] and [e["a"] for e in oks] == [{"n": i, "b": {"m": 4}} for i in range(3)]
    assert all(e["a"] is a and e["a"]["b"] is b for e, (a, b) in zip(oks, parents, strict=True))  # where they are
    assert schema == {"v": "1", "f": {"w": "3"}} and meta == {"p": "2"}  # the shared objects untouched, inside too
    assert all(e["schema"] == {"v": 1, "f": {"w": 3}} and e["_meta"] == {"p": 2} for e in oks)


_exponents = st.builds(lambda m, e: f"{m}e{e}", _numeric_text, st.integers(-(10 ** 19), 10 ** 19))


@settings(max_examples=400, deadline=None)
@given(st.one_of(_numeric_text, _odd_text, _exponents, st.text(max_size=12)))
@example("1e-1000000000000000000")
@example("9" * 30 + "e999999999999999999")
def test_the_exact_reading_of_decimal_text_is_decimal_or_raises(text):
    """What the inline decimal form reads text with: Decimal() itself, or an exception."""
    from engine.operators.cast_inline import _EXACT

    try:
        read = _EXACT.create_decimal(text)
    except ArithmeticError:
        return
    assert repr(read) == repr(Decimal(text)) and type(read) is Decimal


def _outcome(quantize):
    try:
        return repr(quantize())
    except ArithmeticError as exc:
        return type(exc)


_big_exponents = st.builds(lambda digits, exponent: Decimal(f"{digits}e{exponent}"), _digits,
                           st.integers(-(10 ** 17), 10 ** 17))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.decimals(), st.decimals(places=3), _big_exponents),
       st.sampled_from([(10, 2), (3, 2), (38, 9), (5, 0)]))
@example(Decimal("9.995"), (3, 2))
@example(Decimal("sNaN"), (10, 2))
def test_the_contexts_quantize_is_decimal_quantize_in_that_context(number, spec):
    """The inline decimal form quantizes with the context's bound quantize."""
    from decimal import ROUND_HALF_UP, Context

    precision, scale = spec
    context, quantum = Context(prec=precision, rounding=ROUND_HALF_UP), Decimal(1).scaleb(-scale)
    assert _outcome(lambda: context.quantize(number, quantum)) == \
        _outcome(lambda: number.quantize(quantum, None, context))


# text ending in a point and `scale` characters: the inline form reads it in a context of its
# own (cast_inline._in_scale) instead of quantizing; '1.e5', '-0.00', '1.e-5' and too many digits
_tails = st.text(alphabet="0123456789eE+-", min_size=1, max_size=3)
_scaled_text = st.builds(lambda sign, whole, tail: f"{sign}{whole}.{tail}", st.sampled_from(["", "-", "+"]),
                         st.text(alphabet="0123456789", max_size=12), _tails)


@settings(max_examples=500, deadline=None)
@given(type_name=st.sampled_from(["decimal(10,2)", "decimal(3,2)", "decimal(4,1)", "decimal(6,3)", "decimal(2,1)",
                                  "decimal(12,3)"]),
       values=st.lists(st.one_of(_scaled_text, _numeric_text), min_size=1, max_size=8))
@example(type_name="decimal(10,2)", values=["1.e5", "1.E7", "1.e8", "-0.00", "0.e5", "-0.e3", "99999999.99",
                                            "100000000.00", "00000000001.00", ".55", "-.55", "+1.00", "1.5e"])
@example(type_name="decimal(6,3)", values=["1.e-5", "1.e+5", "1.2e5", "123.456", "1234.567", "-0.000"])
@example(type_name="decimal(3,2)", values=["9.99", "1.e0", "1.e1", "0.e9", "10.00"])
def test_text_of_the_scale_is_read_as_the_converter_quantizes_it(type_name, values):
    step = Cast("c", {"fields": {"v": type_name}}, None)
    events = [{"i": i, "v": v} for i, v in enumerate(values)]
    assert _fused(step, events) == _by_event(step, events)
    owned = [dict(e) for e in events]
    oks, deads = step.process_owned(owned)
    assert ([{k: _shape(v) for k, v in e.items()} for e in oks], [(d.event, d.error) for d in deads]) \
        == _by_event(step, events)


_json_events = st.lists(st.fixed_dictionaries({"n": st.one_of(_digits, st.integers(-(2 ** 63), 2 ** 63 - 1), st.none()),
                                               "w": st.one_of(_numeric_text, st.none()), "t": _time_text},
                                              optional={"s": st.text(max_size=3)}), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.tuples(_json_events, st.sampled_from(["orjson", "python", "mixed", "not first"])),
                        min_size=1, max_size=6))
@example(batches=[([{"n": "1", "w": "1.50", "t": "2026-01-01T00:00:00Z"}], "orjson"),
                  ([{"n": "2", "w": "2.50", "t": "2026-01-01T00:00:00Z"}], "python")] * 3)
def test_the_in_place_loop_finds_fields_by_any_equal_key(batches):
    """The in-place strict loop reads fields with the key objects of the batch's first event
    (Cast._adopt_keys): events decoded by orjson (one key object per key), built in Python, a
    batch mixing both, or one whose first item is not an event convert as the converters do."""
    import copy

    import orjson

    step = Cast("c", {"fields": {"n": "int", "w": "decimal(10,2)", "t": "timestamp"}}, None)
    assert step._keys  # flat casts: the loop reads through key cells
    for events, source in batches:
        if source != "python":
            events = [orjson.loads(orjson.dumps(e)) if source != "mixed" or i % 2 else e for i, e in enumerate(events)]
        if source == "not first":
            events = ["not an event", *events]
        before = copy.deepcopy(events)
        oks, deads = step.process_owned(events)
        reference = step._by_event(before)
        assert [repr(e) for e in oks] == [repr(e) for e in reference[0]]
        assert [(repr(d.event), d.error) for d in deads] == [(repr(d.event), d.error) for d in reference[1]]


def test_a_key_of_a_str_subclass_is_not_adopted():
    class Key(str):
        def __hash__(self):
            return 0

    step = Cast("c", {"fields": {"n": "int"}}, None)
    oks, deads = step.process_owned([{Key("n"): "1", "n": "2"}, {"n": "3"}])
    assert oks == [{Key("n"): "1", "n": 2}, {"n": 3}] and not deads
    assert all(type(cell.cell_contents) is str for cell in step._keys.values())


def test_the_in_place_loop_reads_each_field_with_the_events_own_key():
    """Clean events decoded by orjson: the strict loop finishes the batch (no lenient one after
    it), each cell holds the events' own key object, and two fields of one type are not mixed up."""
    import orjson

    step = Cast("c", {"fields": {"a": "int", "b": "int", "w": "decimal(10,2)"}}, None)
    events = [orjson.loads(b'{"b": "%d", "x": 1, "a": "%d", "w": "%d.25"}' % (i, -i, i)) for i in range(1, 4)]
    oks, deads = step.process_owned(events)
    assert oks == [{"b": i, "x": 1, "a": -i, "w": Decimal(f"{i}.25")} for i in range(1, 4)] and not deads
    assert step._lenient_batches == 0
    assert all(any(cell.cell_contents is key for key in oks[0]) for cell in step._keys.values())
    for held, process in (("owned", step.process_owned), ("whole", step.process_owned_whole)):
        events = [orjson.loads(b'{"b": "%d", "x": 1, "a": "%d", "w": "%d.25"}' % (i, -i, i)) for i in range(1, 4)]
        oks, deads = process(events)
        loop = step._strict[held]  # the loop that ran reads through the cells that were given the keys
        assert not deads and loop.__closure__ and all(any(cell.cell_contents is key for key in oks[0])
                                                      for cell in loop.__closure__), held


def test_many_fields_each_read_with_its_own_key():
    """Twelve fields of two types: the loop's names k0..k11 are its cells in sorted order (k10
    before k2), and each field is still converted to its own type."""
    import orjson

    fields = {f"f{i}": "int" if i % 3 else "decimal(10,2)" for i in range(12)}
    step = Cast("c", {"fields": fields}, None)
    events = [orjson.loads(orjson.dumps({f"f{i}": str(i * 10 + j) for i in range(12)})) for j in range(3)]
    for _ in range(2):  # the second batch with the keys adopted from the first
        batch = [dict(e) for e in events]
        oks, deads = step.process_owned(batch)
        assert [[repr(v) for v in e.values()] for e in oks] == \
            [[repr(i * 10 + j if i % 3 else Decimal(f"{i * 10 + j}.00")) for i in range(12)] for j in range(3)]
        assert not deads and step._lenient_batches == 0
