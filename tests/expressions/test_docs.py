"""docs/expressions.md documents every function the language has."""

import pathlib

from engine.expressions import FUNCTIONS, SPECIAL_FORMS

DOC = (pathlib.Path(__file__).parents[2] / "docs" / "expressions.md").read_text(encoding="utf-8")


def test_every_function_is_documented():
    missing = [name for name in [*FUNCTIONS, *SPECIAL_FORMS] if f"`{name}" not in DOC]
    assert missing == []
