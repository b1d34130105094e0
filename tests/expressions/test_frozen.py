"""The frozen records (engine/frozen.py) behave as the frozen dataclasses they
replaced: equality, hash, repr, immutability, copy and pickle, checked against a dataclass of
the same name and fields."""

import copy
import dataclasses
import pickle

import pytest

from engine.expressions import syntax
from engine.expressions.syntax import Binary, Call, Field, Index, IsNull, ListOf, Literal, Unary


def tree():
    one, name = Literal(4, 1, 1), Field(0, 3, ("a", 0))
    return Call(0, 30, "coalesce", 8, (Binary(0, 5, "+", name, one), Unary(6, 4, "-", one),
                                        IsNull(10, 9, name, True), ListOf(20, 4, (one, Literal(22, 1, None))),
                                        Index(25, 5, name, Literal(27, 1, "x"))))


def as_dataclass(node):
    """The same node as a frozen dataclass of the same name and fields (how it was made before)."""
    cls = type(node)
    made = dataclasses.make_dataclass(cls.__name__, [(name, object) for name in cls._fields], frozen=True)
    made.__qualname__ = cls.__qualname__
    return made(*[as_dataclass(v) if isinstance(v, syntax.Node) else
                  tuple(as_dataclass(i) if isinstance(i, syntax.Node) else i for i in v) if isinstance(v, tuple) else v
                  for v in (getattr(node, name) for name in cls._fields)])


def walk(node):
    yield node
    for child in syntax.children(node):
        yield from walk(child)


def test_repr_equality_and_hash_are_a_frozen_dataclasses():
    for node in walk(tree()):
        old = as_dataclass(node)
        assert repr(node) == repr(old)
        same = copy.deepcopy(node)
        assert same == node and same is not node and hash(same) == hash(node)
        assert (node != same) is False
    assert Literal(0, 1, 1) != Field(0, 1, 1)  # another class, the same values: not equal, as before
    assert Literal(0, 1, 1) != (0, 1, 1) and Literal(0, 1, 1).__eq__((0, 1, 1)) is NotImplemented
    assert Literal(0, 1, 1) != Literal(0, 1, 2)
    assert len({Literal(0, 1, 1), Literal(0, 1, 1), Literal(0, 1, 1.0)}) == 1  # 1 == 1.0, as tuples compare


def test_fields_cannot_be_changed_and_copies_are_equal():
    node = tree()
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del node.args
    with pytest.raises(AttributeError):
        node.extra = 1  # no field of that name (slots: no instance dictionary either)
    assert pickle.loads(pickle.dumps(node)) == node
    assert copy.copy(node) == node
    assert Binary._fields == ("offset", "length", "op", "left", "right")


def test_the_other_records_keep_their_defaults_and_repr():
    from engine.expressions.declaration import Function
    from engine.expressions.folding import NO_VALUE, Code
    from engine.expressions.lexer import tokenize

    first, second = Function("f", len, (None,), "int", "f(x)"), Function("f", len, (None,), "int", "f(x)")
    assert first == second and first.literal == {} and first.literal is not second.literal
    assert (first.required, first.variadic, first.strict, first.pure, first.method, first.bind) == (
        None, False, True, True, None, None)
    assert Code("e['a']", "int", True).value is NO_VALUE and not Code("1", "int", False).known
    token = tokenize("a + 1")[0]
    assert repr(token) == "Token(kind='name', text='a', value='a', offset=0)" and token.end == 1
    for record in (first, Code("1", "int", False, 1), token):
        assert repr(record) == repr(as_dataclass(record)) and pickle.loads(pickle.dumps(record)) == record
