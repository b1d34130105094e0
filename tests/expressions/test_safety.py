"""The language cannot reach Python: no attributes, imports, builtins or code injection."""

import ast
import re

import pytest

from engine.expressions import NAMESPACE, ExpressionError, compile_expression

ATTACKS = [
    "__import__('os').system('true')",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('x = 1')",
    "getattr(s, 'upper')",
    "().__class__.__bases__[0].__subclasses__()",
    "s.__class__",
    "lambda: 1",
    "[x for x in s]",
    "s; import os",
    "globals()",
    "_f_upper('x')",
    "_path(e, ('a',))",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_python_constructs_are_refused_or_inert(text):
    try:
        expression = compile_expression(text)
    except ExpressionError:
        return
    # Whatever compiled is only field access: it must read data, never run anything.
    assert expression({}) is None
    assert all(call in {"e.get", "_path", "_type"} or re.fullmatch(r"_v\d+\.get", call)
               for call in _calls(expression.python))


def _calls(source):
    calls = set()
    for node in ast.walk(ast.parse(source, mode="eval")):
        if isinstance(node, ast.Call):
            calls.add(ast.unparse(node.func))
    return calls


def test_dotted_names_are_field_paths_not_attributes():
    expression = compile_expression("s.__class__")
    assert expression({"s": "text"}) is None
    assert expression({"s": {"__class__": 1}}) == 1


@pytest.mark.parametrize("text", [
    "'\\'); import os; (\\''", '"\\"]) or __import__(\\"os\\") #"', "'\\n__import__(\"os\")'",
])
def test_string_literals_cannot_break_out_of_the_generated_code(text):
    expression = compile_expression(text)
    assert isinstance(expression({}), str)
    assert "__import__" not in expression.python.replace(repr(expression({})), "")


@pytest.mark.parametrize("name", ["__class__", "'); x = ('", "a\nb"])
def test_quoted_field_names_stay_dictionary_keys(name):
    expression = compile_expression(f"`{name}`")
    assert expression({name: 42}) == 42


def test_generated_code_has_no_builtins():
    assert NAMESPACE["__builtins__"] == {}
    assert all(key.startswith(("_", "__builtins__")) for key in NAMESPACE)


def test_only_documented_functions_are_callable():
    with pytest.raises(ExpressionError, match="unknown function 'print'"):
        compile_expression("print('x')")
