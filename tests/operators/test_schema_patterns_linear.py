"""A JSON schema's ``pattern`` and ``patternProperties`` run on RE2 (engine/operators/jsonschemas.py):
with Python's backtracking ``re``, ``^(a+)+$`` and one event of 40 a's and a '!' stalled the flow
for ever. The verdicts are fastjsonschema's on ASCII text (Hypothesis); a pattern RE2 refuses
(a lookaround) stays on ``re``; a format keeps fastjsonschema's expression."""

import json
import re

import fastjsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.jsonschemas import EventSchema


def _schema(tmp_path, schema, name="s.json"):
    path = tmp_path / name
    path.write_text(json.dumps(schema))
    return EventSchema(str(path))


def test_a_pattern_that_backtracks_for_ever_in_re_is_a_dead_letter_at_once(tmp_path):
    schema = _schema(tmp_path, {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
                                "patternProperties": {"^(x+)+$": {"type": "integer"}}})
    assert "code" in schema.violation({"code": "a" * 40 + "!"})  # Python's re: 2**40 steps
    assert schema.violation({"code": "a" * 40}) is None
    assert schema.violation({"code": "aa", "x" * 40 + "!": "not checked: no match"}) is None
    assert schema.violation({"code": "aa", "xxx": "text"}) is not None  # the property pattern matched


def test_a_lookaround_stays_on_re_and_a_format_on_fastjsonschemas_expression(tmp_path):
    schema = _schema(tmp_path, {"type": "object", "properties": {
        "id": {"type": "string", "pattern": "^(?!tmp)[a-z]+$"}, "at": {"type": "string", "format": "date-time"}}})
    assert schema.violation({"id": "tmpfile"}) is not None and schema.violation({"id": "file"}) is None
    assert schema.violation({"at": "2026-11-02T06:00:00Z"}) is None and schema.violation({"at": "nope"}) is not None


_ATOMS = st.sampled_from(["a", "b", "[ab]", "[^a]", ".", "\\d", "\\w", "\\s", "x", "(a|b)", "[0-9]"])
_PATTERNS = st.builds(lambda anchor_start, parts, quantifiers, anchor_end: anchor_start + "".join(
    p + q for p, q in zip(parts, quantifiers)) + anchor_end,
    st.sampled_from(["", "^"]), st.lists(_ATOMS, min_size=1, max_size=4),
    st.lists(st.sampled_from(["", "*", "+", "?", "{2}", "{1,3}"]), min_size=4, max_size=4),
    st.sampled_from(["", "$"]))


@settings(max_examples=150, deadline=None)
@given(pattern=_PATTERNS, texts=st.lists(st.text(alphabet="ab0x9 _\n-", max_size=8), min_size=1, max_size=6))
def test_the_verdicts_are_fastjsonschemas_on_ascii_text(tmp_path_factory, pattern, texts):
    document = {"type": "object", "properties": {"v": {"type": "string", "pattern": pattern}}}
    schema = _schema(tmp_path_factory.mktemp("p"), document)
    reference = fastjsonschema.compile(document)
    for text in texts:
        try:
            reference({"v": text})
            expected = True
        except fastjsonschema.JsonSchemaValueException:
            expected = False
        assert (schema.violation({"v": text}) is None) is expected, (pattern, text)
        assert expected is bool(re.search(pattern.replace("$", "\\Z"), text))  # what fastjsonschema ran
