import pytest

from engine.topology.interpolate import InterpolationError, interpolate
from engine.topology.loader import load_text


def test_positions_of_keys_and_values_are_one_based():
    doc = load_text("t.yaml", "a:\n  b: 'x y'\n  c: [1, 2]\n", env={})
    assert doc.locate(("a", "b")) == (2, 6)
    assert doc.locate(("a", "b"), at_key=True) == (2, 3)
    assert doc.locate(("a", "c", 1)) == (3, 10)


def test_offset_inside_a_quoted_value_skips_the_quote():
    doc = load_text("t.yaml", 'f: "abc > 1"\n', env={})
    assert doc.locate(("f",), offset=4) == (1, 9)


def test_missing_node_falls_back_to_the_parent_key():
    doc = load_text("t.yaml", "a:\n  b: 1\n", env={})
    assert doc.locate(("a", "nope")) == (1, 1)


def test_yaml_error_is_a_located_problem_not_an_exception():
    doc = load_text("t.yaml", "a: [1\nb: 2\n", env={})
    assert doc.data is None
    assert [(p.line, p.column) for p in doc.problems] == [(2, 2)]
    assert doc.problems[0].message.startswith("invalid YAML: ")


def test_duplicate_keys_are_reported_with_a_hint():
    doc = load_text("t.yaml", "a: 1\na: 2\n", env={})
    assert doc.problems[0].line == 2
    assert "each key may appear once" in doc.problems[0].hint


def test_interpolation_uses_env_then_default():
    assert interpolate("${A}-${B:-b}", {"A": "x"}) == ("x-b", True)
    assert interpolate("$${A}", {}) == ("${A}", False)
    assert interpolate("plain", {}) == ("plain", False)


def test_unset_variable_is_an_error_at_its_offset():
    with pytest.raises(InterpolationError) as info:
        interpolate("path/${NOPE}", {})
    assert info.value.offset == 5
    assert info.value.message == "environment variable 'NOPE' is not set"


def test_interpolated_value_never_shifts_column_math():
    doc = load_text("t.yaml", 'p: "${SECRET}"\n', env={"SECRET": "hunter2"})
    assert doc.data == {"p": "hunter2"}
    # offsets inside an interpolated value would point into the secret; report the value start
    assert doc.locate(("p",), offset=3) == (1, 4)


def test_a_whole_unquoted_variable_is_read_like_yaml_but_quoted_stays_text():
    from engine.topology.loader import load_text

    doc = load_text("t.yaml", "a: ${X:-true}\nb: '${X:-true}'\nc: ${N:-5}\nd: x${N:-5}\n", env={})
    assert doc.data == {"a": True, "b": "true", "c": 5, "d": "x5"}


def test_keys_are_interpolated_too_and_positions_follow_them():
    text = "topics:\n  ${P:-velocity}.domain.trip: {partitions: 1}\n  fixed: {partitions: 2}\n"
    assert load_text("t.yaml", text, env={}).data == {"topics": {"velocity.domain.trip": {"partitions": 1},
                                                                 "fixed": {"partitions": 2}}}
    doc = load_text("t.yaml", text, env={"P": "test42"})
    assert list(doc.data["topics"]) == ["test42.domain.trip", "fixed"]
    assert doc.locate(("topics", "test42.domain.trip", "partitions")) == (2, 44)  # the value 1
    unset = load_text("t.yaml", "topics:\n  ${NOPE}.x: {}\n", env={})
    assert [(d.line, d.column, d.message) for d in unset.problems] == [(2, 3, "environment variable 'NOPE' is not set")]
