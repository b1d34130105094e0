"""The loader reads a file with ruamel's plain scanner, and with the round-trip scanner a file the
plain one refuses or one with a comment right after an indicator: what a file gives (data,
positions, problems) is what the round-trip scanner alone gave."""

import pytest

from engine.topology import loader, yaml_passes


def _round_trip_only(text):
    """load_text as it was: the round-trip scanner for every file."""
    doc = loader.Document(path="f.yaml", text=text, data=None)
    raw = yaml_passes.round_trip(text)
    doc.data = loader._plain(raw, (), doc, {}, None)
    return doc


def _positions(doc):
    return {path: (p.line, p.column, p.key_line, p.key_column, p.quoted) for path, p in doc.positions.items()}


@pytest.mark.parametrize("text", [
    "a:\n  b: # a note\n  c: 1\n",  # an empty value before a comment: after the ':' (the plain scanner: next line)
    "- a: # note\n  b: 1\n",
    "a: 1 # x\nb:   # y\n\nc: 2\n",
    "version: 1\nname: 'q' # quoted\nsteps:\n  - {id: a, filter: \"x > 1\"}  # flow\n",
    "a:\n  b:\n  c: [1, # x\n    2]\n",
])
def test_data_and_positions_are_the_round_trip_scanners(text):
    doc = loader.load_text("f.yaml", text, {})
    before = _round_trip_only(text)
    assert (doc.data, _positions(doc), doc.problems) == (before.data, _positions(before), [])


def test_an_empty_value_before_a_comment_is_placed_after_its_colon():
    doc = loader.load_text("f.yaml", "b: # note\nc: 1\n", {})
    assert doc.data == {"b": None, "c": 1}
    assert doc.locate(("b",)) == (1, 3)


@pytest.mark.parametrize("text, problem", [
    ("a: b: c\n", ("invalid YAML: mapping values are not allowed here", 1, 5)),
    ("a:\n  - 1\n  b: 2\n", None),
    ("a: [1, 2\n", None),
])
def test_a_file_the_plain_scanner_refuses_is_reported_as_the_round_trip_scanner_reports_it(text, problem):
    doc = loader.load_text("f.yaml", text, {})
    assert doc.data is None and len(doc.problems) == 1
    try:
        yaml_passes.round_trip(text)
    except Exception as exc:  # noqa: BLE001 - the round-trip scanner's own error
        mark = exc.problem_mark or exc.context_mark
        assert (doc.problems[0].line, doc.problems[0].column) == (mark.line + 1, mark.column + 1)
        assert doc.problems[0].message == "invalid YAML: " + (exc.problem or exc.context).strip()
    else:
        pytest.fail("the round-trip scanner loaded it")
    if problem:
        assert (doc.problems[0].message, doc.problems[0].line, doc.problems[0].column) == problem


def test_a_file_whose_comments_the_round_trip_scanner_gives_up_on_is_reported_as_the_plain_scanner_reads_it():
    """ruamel's round-trip comment handling raised NotImplementedError ("overlap in comment") on
    this file: validate ended as an internal error (exit 4) instead of locating the mistake."""
    text = 'k:   #c~.inf"x"\n  on\n  \n"\\x41"}!\n    &a \n - NO#c"a\\nb"<< '
    doc = loader.load_text("f.yaml", text, {})
    assert doc.data is None
    assert [(p.line, p.column, p.message) for p in doc.problems] == [(4, 7, "invalid YAML: could not find expected ':'")]
