"""Property tests of matches()/extract(): refused at load time, or Python's answer in bounded time."""

import re
import time
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expressions import ExpressionError, compile_expression
from engine.expressions import regex
from tests.expressions.test_regex import HINT, quoted

SETTINGS = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Well-formed patterns, mostly valid for both engines.
ATOMS = st.sampled_from(["a", "b", "c", "A", ".", "\\d", "\\w", "\\s", "\\D", "\\W", "\\S", "[abc]", "[^a]", "[a-c]",
                         "[\\w-]", " ", "-", "\\.", "\\b", "\\B", "^", "$", "\\A", "\\Z", "\\u0061", "\\x41", "\\n",
                         "{", "}", ","])
QUANTIFIERS = st.sampled_from(["", "", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,2}", "{,2}", "{2,}", "{0}"])
GROUPS = st.sampled_from(["(", "(?:", "(?i:", "(?s:"])
FLAGS = st.sampled_from(["", "", "(?i)", "(?m)", "(?s)"])
BODIES = st.recursive(
    st.builds(str.__add__, ATOMS, QUANTIFIERS),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map("".join),
        st.lists(inner, min_size=2, max_size=3).map("|".join),
        st.builds(lambda group, body, quantifier: group + body + ")" + quantifier, GROUPS, inner, QUANTIFIERS)),
    max_leaves=8)
WELL_FORMED = st.builds(str.__add__, FLAGS, BODIES)
# Anything at all from regex syntax, including what RE2 refuses (backreferences, lookaround).
SOUP = st.lists(st.sampled_from(["a", "b", ".", "*", "+", "?", "|", "(", ")", "[", "]", "^", "$", "\\d", "\\w", "\\b",
                                 "\\B", "\\Z", "{", "}", ",", "1", "-", "(?:", "(?i)", "*?", "{,2}", "\\1", "(?=", "(?!",
                                 "(?<=", "(?P<n>", "(?P=n)", "(?>", "*+", "\\C", "\\u0061", "\\z", "\\pL"]),
                max_size=8).map("".join)
# ASCII text without \v and \x1c-\x1f and not ending in a newline: where Python's \s, \w and $ agree
# with RE2's (the differences are documented and tested in test_regex.py).
TEXTS = st.text(alphabet="abcAB01 _-.\n{},", min_size=1, max_size=12).filter(lambda t: not t.endswith("\n"))


def python_pattern(pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarning on '[[' and the like
        try:
            return re.compile(pattern)
        except (re.error, OverflowError, RecursionError):
            return None


def check_against_python(pattern, texts):
    """matches() always; extract() unless a group is repeated: one that can match the empty text
    may pick another match (documented: Python's '((\\d*|A)*)' on '0A' is '0', RE2's '0A')."""
    try:
        test = compile_expression(f"matches(s, {quoted(pattern)})", {"s": "str"})
        first = compile_expression(f"extract(s, {quoted(pattern)})", {"s": "str"})
    except ExpressionError as error:  # refused: at the pattern, with the hint
        assert (error.offset, error.hint) == (11, HINT)
        return
    python = python_pattern(pattern)
    if python is None:
        return  # RE2-only syntax (\pL, \z): nothing to compare with
    for text in texts:
        found = python.search(text)
        assert test({"s": text}) is (found is not None), (pattern, text)
        if not REPEATED_GROUP.search(pattern):
            expected = None if found is None else found.group(1 if python.groups else 0)
            assert first({"s": text}) == expected, (pattern, text)


REPEATED_GROUP = re.compile(r"\)(?:[*+?]|\{)")


@SETTINGS
@given(flags=FLAGS, body=BODIES, texts=st.lists(TEXTS, min_size=1, max_size=5))
def test_a_well_formed_pattern_agrees_with_python_re(flags, body, texts):
    check_against_python(flags + body, texts)
    check_against_python(flags + "(" + body + ")", texts)  # the whole match, as group 1


@SETTINGS
@given(pattern=SOUP, texts=st.lists(TEXTS, min_size=1, max_size=3))
def test_any_pattern_is_refused_at_load_time_or_agrees_with_python_re(pattern, texts):
    check_against_python(pattern, texts)


@SETTINGS
@given(pattern=st.one_of(WELL_FORMED, SOUP), text=st.text(max_size=20), function=st.sampled_from(["matches", "extract"]))
def test_a_pattern_from_the_event_gives_the_literal_patterns_answer(pattern, text, function):
    event = {"s": text, "p": pattern}
    from_event = compile_expression(f"{function}(s, p)")
    try:
        literal = compile_expression(f"{function}(s, {quoted(pattern)})")
    except ExpressionError:  # refused at load time: from an event, it fails that event only
        try:
            from_event(event)
        except ValueError as error:
            assert str(error).startswith("invalid regular expression: ")
            return
        raise AssertionError(f"{pattern!r} refused as a literal, accepted from an event")
    assert from_event(event) == literal(event)


# Catastrophic for a backtracking engine, each with an equivalent pattern that is not.
PATHOLOGICAL = [("^(a+)+$", "^a+$"), ("^(a|aa)+$", "^a+$"), ("(x+x+)+y", "xxy"), ("^([a-zA-Z]+ ?)*$", "^(?:[a-zA-Z]+ )*[a-zA-Z]*$"),
                ("^(\\w+\\s?)*$", "^(?:\\w+\\s)*\\w*$"), ("(a|a)*b", "b")]


@SETTINGS
@given(pair=st.sampled_from(PATHOLOGICAL), text=st.builds(
    lambda head, unit, count, tail: head + unit * count + tail, st.text(alphabet="aAxy ", max_size=10),
    st.sampled_from(["a", "x", "ab", "a ", "Ab ", "aA"]), st.integers(0, 3000), st.sampled_from(["", "!", "b", " ", "y"])))
def test_pathological_patterns_finish_fast_with_the_right_answer(pair, text):
    pathological, equivalent = pair
    expression = compile_expression(f"matches(s, {quoted(pathological)})", {"s": "str"})
    start = time.process_time()
    result = expression({"s": text})
    assert time.process_time() - start < 0.5
    assert result is (re.search(equivalent, text) is not None)
