"""parser.parse keeps the (frozen) tree of each text it parsed: a flow parses an expression when
it is bound, again for its strict form and its keys at the first batch. A text that does not
parse is refused every time, with the same error."""

import pytest

from engine.expressions import parser
from engine.expressions.errors import ExpressionError


def test_a_text_is_parsed_once_and_its_tree_shared(monkeypatch):
    monkeypatch.setattr(parser, "_PARSED", {})
    made = []
    monkeypatch.setattr(parser, "_Parser", lambda text, _made=parser._Parser: made.append(text) or _made(text))
    first = parser.parse("coalesce(after.id, before.id)")
    assert parser.parse("coalesce(after.id, before.id)") is first and made == ["coalesce(after.id, before.id)"]
    assert parser.parse("coalesce(after.id, before.id) ") is not first  # another text


@pytest.mark.parametrize("text", ["a +", "", "(" * 40 + "a" + ")" * 40, 7, None])
def test_what_does_not_parse_is_refused_each_time(monkeypatch, text):
    monkeypatch.setattr(parser, "_PARSED", {})
    errors = []
    for _ in range(2):
        with pytest.raises(ExpressionError) as caught:
            parser.parse(text)
        errors.append((str(caught.value), caught.value.offset))
    assert errors[0] == errors[1] and parser._PARSED == {}


def test_the_kept_trees_are_bounded(monkeypatch):
    monkeypatch.setattr(parser, "_PARSED", {})
    monkeypatch.setattr(parser, "_PARSED_KEPT", 3)
    for n in range(7):
        parser.parse(f"a + {n}")
    assert 1 <= len(parser._PARSED) <= 3
