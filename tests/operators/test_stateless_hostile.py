"""Hostile inputs for the stateless operators and the per-event JSON-Schema check: values the
authors' own tests never drew (str subclasses beside an enum, long texts for a format, values
the JSON sinks write as text, a kept field an event lacks)."""

import copy
import itertools
import json
import re
import time
from datetime import timedelta
from decimal import Decimal

import orjson
from fastjsonschema.draft04 import CodeGeneratorDraft04
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors.jsonl import encode_value
from engine.infinite_dates import DATE_INFINITY
from engine.operators.filter import Filter
from engine.operators.filter_map import fused
from engine.operators.jsonschemas import EventSchema, is_email
from engine.operators.map import Map
from engine.operators.schema_view import compile_view
from engine.operators.validate import split_valid
from engine.values import INFINITY, NonFiniteFloat

_files = itertools.count()


class _Text(str):
    """A str subclass, as text from the environment is."""


def _both(tmp_path, schema):
    """(the check with its quick yes, the same check without it)."""
    path = tmp_path / f"s{next(_files)}.json"
    path.write_text(json.dumps(schema))
    quick, slow = EventSchema(str(path)), EventSchema(str(path))
    slow.accept = None
    return quick, slow


def test_a_str_subclass_in_an_enum_still_meets_the_string_keywords(tmp_path):
    """The enum test lets a str subclass in (its JSON is the same string); the minLength,
    maxLength and format tests beside it tested ``type is str`` only, so a subclass skipped
    them: the quick yes said valid where fastjsonschema says the text is too short."""
    cases = [({"enum": ["a"], "minLength": 2}, "longer than or equal to 2"),
             ({"const": "a", "maxLength": 0}, "shorter than or equal to 0"),
             ({"enum": ["a", "b"], "format": "email"}, "must be email")]
    for keywords, reason in cases:
        quick, slow = _both(tmp_path, {"type": "object", "properties": {"p": keywords}})
        for event in ({"p": _Text("a")}, {"p": "a"}):
            assert reason in slow.violation(dict(event))
            assert quick.violation(dict(event)) == slow.violation(dict(event)), (keywords, event)
            assert split_valid("v", quick, [dict(event)])[0] == []
    quick, _ = _both(tmp_path, {"properties": {"p": {"enum": ["ab"], "minLength": 2}}})
    assert quick.accept({"p": "ab"})  # a plain str still gets the quick yes


STRINGS = st.sampled_from(["a", "ab", "", "a@b.cd", "x.y@z", "2024-03-04T05:03:34Z", "é"])


@st.composite
def string_schemas(draw):
    """An enum or const of strings with the string keywords beside it, often."""
    schema = {"enum": draw(st.lists(STRINGS, min_size=1, max_size=3))} if draw(st.booleans()) else \
        {"const": draw(STRINGS)}
    for word, values in (("minLength", st.integers(0, 3)), ("maxLength", st.integers(0, 3)),
                         ("format", st.sampled_from(["email", "date-time", "date", "unknown"])),
                         ("type", st.sampled_from(["string", ["string", "null"], ["integer", "string"]]))):
        if draw(st.integers(0, 2)) == 0:
            schema[word] = draw(values)
    return schema


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(schema=string_schemas(), texts=st.lists(st.tuples(STRINGS, st.booleans()), min_size=1, max_size=4))
def test_strings_and_str_subclasses_get_the_verdicts_of_fastjsonschema(tmp_path_factory, schema, texts):
    quick, slow = _both(tmp_path_factory.getbasetemp(), {"type": "object", "properties": {"p": schema}})
    for text, subclass in texts:
        event = {"p": _Text(text) if subclass else text}
        assert quick.violation(copy.copy(event)) == slow.violation(copy.copy(event)), (schema, event)


_EMAIL = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS["email"])


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=["a", ".", "@", "\n", "\r", " ", "é"], max_size=12))
def test_the_email_format_is_fastjsonschemas_expression(text):
    assert is_email(text) == (_EMAIL.match(text) is not None)


def test_a_long_text_for_the_email_format_takes_no_time(tmp_path):
    """fastjsonschema's email expression backtracks quadratically: 100,000 dots took ~5 s in the
    quick yes and again in the full check (a 1 MB text, minutes): one event stalled the flow."""
    quick, slow = _both(tmp_path, {"type": "object", "properties": {"m": {"type": "string", "format": "email"}}})
    started = time.perf_counter()
    for schema in (quick, slow):
        assert "must be email" in schema.violation({"m": "." * 100_000})
        assert "must be email" in schema.violation({"m": "a." * 50_000 + "@b"})
        assert schema.violation({"m": "a" * 50_000 + "@b.cd"}) is None
    assert time.perf_counter() - started < 1.0


# values orjson does not take, which the JSON sinks write as text (or a list)
SINK_TEXT = {"nan": NonFiniteFloat("NaN"), "inf": NonFiniteFloat("-Infinity"), "dnan": Decimal("NaN"),
             "date": DATE_INFINITY, "at": INFINITY, "late": timedelta(minutes=30), "tags": {"x"}}


def test_values_the_sinks_write_as_text_are_validated_as_that_text(tmp_path):
    """A Debezium NaN of a float column, an infinite date, a duration... made the event "cannot be
    validated" (orjson cannot write them) while the sinks write "NaN", "infinity", "0:30:00": the
    schema now judges what consumers read, as it did for an infinite timestamp."""
    kinds = {"type": ["string", "array"]}
    schema = {"type": "object", "properties": {name: kinds for name in SINK_TEXT}}
    assert compile_view(schema)(SINK_TEXT) == orjson.loads(encode_value(SINK_TEXT))
    quick, slow = _both(tmp_path, schema)
    assert quick.violation(dict(SINK_TEXT)) is None and slow.violation(dict(SINK_TEXT)) is None
    numbers, _ = _both(tmp_path, {"type": "object", "properties": {"n": {"type": "number"}}})
    assert numbers.violation({"n": NonFiniteFloat("NaN")}).endswith("data.n must be number")  # a verdict


def test_a_kept_field_an_event_lacks_is_null_as_any_missing_field():
    """``keep: [a, b]`` read ``e['b']``: an event without ``b`` was dead-lettered as "KeyError: 'b'",
    where ``fields: {b: b}`` gives null (and unnest's ``keep`` too)."""
    step = Map("m", {"keep": ["a", "b"], "fields": {"c": "x"}}, None)
    events = [{"a": 1, "b": 2, "x": 3}, {"a": 1, "x": 3}, {}]
    expected = [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": None, "c": 3}, {"a": None, "b": None, "c": None}]
    for _ in range(2):  # the strict form's failed try, then the paused one
        assert step.process(copy.deepcopy(events)) == (expected, [])
    renamed = Map("m", {"keep": ["a"], "rename": {"a": "z"}}, None)  # the per-event builder
    assert renamed.process([{"a": 1}, {"q": 1}]) == ([{"z": 1}, {"z": None}], [])
    keep_build = fused(Filter("f", "x > 0", None), step, "f+m")
    assert keep_build(copy.deepcopy(events)) == expected[:2]
