"""engine/expressions/object_tests.py: a shared read's object test done once, the later ones
reading its result; code of any other shape left as it is. (The maps that use it are checked
against the plain translation in tests/operators/test_map_literal.py.)"""

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expressions import _lambda
from engine.expressions.object_tests import share_object_tests

SHARED = ("({'x': _v1['p'] if _type((_v1 := (_r1 := e['a']))) is _dict else None, "
          "'y': _v1['q'] if _type((_v1 := _r1)) is _dict else None, "
          "'z': _v2['p'] if _type((_v2 := _r1)) is _dict else None})")
NAMES = {"_type": type, "_dict": dict}


def _run(src, event):
    try:
        return "value", eval(compile(f"(lambda e: {src})", "<t>", "eval"), dict(NAMES))(event)  # noqa: S307
    except Exception as exc:  # noqa: BLE001 - compared by kind
        return "raised", type(exc).__name__


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({"a": st.one_of(st.none(), st.integers(), st.text(max_size=2), st.fixed_dictionaries(
    {}, optional={"p": st.integers(), "q": st.none()}))}))
def test_the_shared_test_gives_what_each_test_gives(event):
    rewritten = share_object_tests(SHARED)
    assert rewritten.count("_type(") == 1 and "_d1" in rewritten
    assert _run(rewritten, event) == _run(SHARED, event)


def test_other_shapes_are_left_as_they_are():
    read_elsewhere = SHARED[:-2] + ", 'w': _v1})"  # _v1 read outside its test: its assignments stay
    assert share_object_tests(read_elsewhere).count("_type(") == 2  # only _v2's test is shared
    assert share_object_tests("(_v1['p'] if _type((_v1 := e['a'])) is _dict else None)") == \
        "(_v1['p'] if _type((_v1 := e['a'])) is _dict else None)"
    assert share_object_tests("(e['a'] +") == "(e['a'] +"
    assert _lambda(share_object_tests(SHARED))({"a": {"p": 1, "q": 2}}) == {"x": 1, "y": 2, "z": 1}
