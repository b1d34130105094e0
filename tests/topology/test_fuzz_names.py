"""Hand-made cases found by fuzzing (issue 13): names and patterns are matched as editors match
them (``$`` is the end of the text), control characters in messages stay escaped on one line."""

import pytest

from engine.binding import validate_text

VALID = """\
version: 1
name: {name}
sources:
  {source}: {{file: {{path: in.jsonl}}}}
steps:
  - id: {step}
    from: {ref}
    cast: {{fields: {{a: {kind}}}}}
sinks:
  out: {{from: {sink_from}, stdout: {{}}}}
"""
GOOD = {"name": "t", "source": "o", "step": "s", "ref": "o", "kind": "int", "sink_from": "s"}


def errors(**changes):
    text = VALID.format(**{**GOOD, **changes})
    result = validate_text("t.yaml", text, env={})
    return [(d.line, d.message) for d in result.diagnostics if d.severity == "error"]


def test_the_good_file_is_valid():
    assert errors() == []


@pytest.mark.parametrize("field, value, line, message", [
    ("name", '"t\\n"', 2, "invalid name 't\\n'"),
    ("source", '"o\\n"', 4, "invalid name 'o\\n'"),
    ("source", '"a b"', 4, "invalid name 'a b'"),
    ("step", '"s\\n"', 6, "invalid name 's\\n'"),
    ("ref", '"o\\n"', 7, "invalid reference 'o\\n'"),
    ("kind", '"int\\n"', 8, "unknown type 'int\\n'"),
    ("sink_from", '"s\\n"', 10, "invalid reference 's\\n'"),
])
def test_a_trailing_newline_is_not_part_of_a_valid_name(field, value, line, message):
    found = errors(**{field: value})
    assert (line, message) in found, found
    raw = [m for _, m in found if "\n" in m]
    assert raw == KNOWN.get(field, []), raw


# Owned by engine/topology/reading.py: a reference the shape check refused is checked again,
# with its raw text (a second, consequential error). Empty this when fixed.
KNOWN: dict = {}
