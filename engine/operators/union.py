"""``union``: several streams become one; events keep their order within each input."""

from __future__ import annotations

from typing import List

from engine.operators.fields import Fields


def merge_fields(all_fields: List[Fields]) -> Fields:
    """Fields of a union: every input's fields; a name with differing types becomes ``any``."""
    if any(f is None for f in all_fields):
        return None
    out: dict = {}
    for fields in all_fields:
        assert fields is not None
        for name, kind in fields.items():
            out[name] = kind if out.get(name, kind) == kind else "any"
    return out


class Union:
    kind = "union"

    def __init__(self, step_id: str, config: list, input_fields) -> None:
        self.step_id = step_id
        self.output_fields = input_fields  # the validator passes the merged fields
